import { EventEmitter } from 'node:events';
import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '@lagscale/exporter';
import { microTime } from '../client/micro-time.js';
import { type LeaseTimes, leaseTimes } from './lease.js';
import { RetryLoop } from './retry-loop.js';

/** The label every Lease of one shard set carries (its value: the set's name). */
export const SHARD_SET_LABEL = 'lagscale.dev/shard-set';
const ROLE_LABEL = 'lagscale.dev/lease-role';

/** FNV-1a of a text: stable across processes and versions (a ScaledConsumer's shard must never move on an upgrade). */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The shard of a ScaledConsumer (`namespace/name`) among `count`. */
export function shardOf(key: string, count: number): number {
  return fnv1a(key) % count;
}

/** What one replica sees of the set in one read: who holds each shard, and which replicas are alive. */
export interface ShardView {
  /** Per shard: its holder, or null when free (no holder, or the holder stopped renewing a lease duration ago). */
  readonly holders: readonly (string | null)[];
  /** Identities whose member Lease is renewed (this replica included). */
  readonly members: readonly string[];
}

/**
 * The pure rule each replica applies to a view: how many shards each may hold (the live replicas
 * share them evenly, rounded up), which free shards this replica takes, and which of its own it
 * gives back when it holds more than its share while another live replica holds less. Only one
 * surplus shard is given back per round, so hand-overs are gradual.
 */
export function planShards(view: ShardView, identity: string): { take: number[]; release: number[] } {
  const count = view.holders.length;
  const members = Math.max(1, new Set([...view.members, identity]).size);
  const fair = Math.ceil(count / members);
  const mine = view.holders.flatMap((holder, shard) => (holder === identity ? [shard] : []));
  const held = new Map<string, number>();
  for (const holder of view.holders) if (holder !== null) held.set(holder, (held.get(holder) ?? 0) + 1);
  const take: number[] = [];
  // Start at a place of this replica's own, so replicas starting together try different shards first.
  const offset = fnv1a(identity) % count;
  for (let i = 0; i < count && mine.length + take.length < fair; i++) {
    const shard = (offset + i) % count;
    if (view.holders[shard] === null) take.push(shard);
  }
  const someoneShort = view.members.some((member) => member !== identity && (held.get(member) ?? 0) < fair);
  const release = mine.length > fair && someoneShort ? [mine[mine.length - 1] as number] : [];
  return { take, release };
}

/**
 * A shard set's options. The Lease times are those of {@link LeaseTimes}, per shard: a holder that
 * stops renewing loses its shards after the lease duration, and stops writing for a shard it could
 * not renew for the renew deadline; the retry period is between rounds (one list of the set's
 * Leases, one renewal per Lease held).
 */
export interface ShardLeasesOptions extends Partial<LeaseTimes> {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** The set's name: Leases `<name>-shard-<i>` and `<name>-member-<hash>`. */
  readonly name: string;
  readonly identity: string;
  readonly shards: number;
  readonly logger: Logger;
}

export interface ShardLeasesEvents {
  /** The shards this replica holds changed: serve what it now owns, drop what it lost. */
  changed: [];
}

interface Observed {
  readonly holder: string | null;
  readonly renewTime: string | null;
  /** When this replica saw the record change (local clock: clocks of replicas are never compared). */
  readonly at: number;
}

/**
 * Shards of the ScaledConsumers, each a `coordination.k8s.io/v1` Lease, shared by the controller
 * replicas: every replica keeps a member Lease renewed, reads the whole set with one list per
 * round, and takes or gives back shards by `planShards`. A shard whose holder stops renewing is
 * taken over after one lease duration (judged by when the record stopped changing, as client-go
 * does); writes carry the resourceVersion that was read, so two replicas never hold one shard.
 * A replica writes for a ScaledConsumer only while it holds its shard and renewed it within the
 * renew deadline.
 */
export class ShardLeases extends EventEmitter<ShardLeasesEvents> {
  readonly #options: Required<Omit<ShardLeasesOptions, 'kubeConfig'>>;
  readonly #api: CoordinationV1Api;
  readonly #loop: RetryLoop;
  /** Shard → when this replica last renewed (or took) it. */
  readonly #held = new Map<number, number>();
  readonly #observed = new Map<string, Observed>();
  /** Lease writes made (renewals, takes, releases): for the controller's metrics. */
  writes = 0;

  constructor(options: ShardLeasesOptions) {
    super();
    if (!Number.isInteger(options.shards) || options.shards < 1 || options.shards > 1000) throw new RangeError('shards must be a whole number from 1 to 1000');
    this.#options = {
      namespace: options.namespace,
      name: options.name,
      identity: options.identity,
      shards: options.shards,
      logger: options.logger,
      ...leaseTimes(options),
    };
    this.#loop = new RetryLoop(() => this.#attempt(), this.#options.retryPeriodSeconds * 1000);
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
  }

  get identity(): string {
    return this.#options.identity;
  }

  get count(): number {
    return this.#options.shards;
  }

  /** The shards this replica holds now, ascending. */
  held(): number[] {
    return [...this.#held.keys()].sort((a, b) => a - b);
  }

  /** Whether this replica serves the ScaledConsumer (`namespace/name`): it holds its shard. */
  owns(key: string): boolean {
    return this.#held.has(shardOf(key, this.#options.shards));
  }

  /** Whether a write for the ScaledConsumer may go out now: its shard held and renewed within the renew deadline. */
  mayWrite(key: string, now = Date.now()): boolean {
    const renewed = this.#held.get(shardOf(key, this.#options.shards));
    return renewed !== undefined && now - renewed < this.#options.renewDeadlineSeconds * 1000;
  }

  start(): void {
    this.#loop.start();
  }

  /** Stops, giving back every shard held (so the others take them at once) and the member Lease. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    const held = this.held();
    if (held.length > 0) {
      this.#held.clear();
      this.emit('changed');
    }
    const leases = await this.#list().catch(() => [] as V1Lease[]);
    for (const lease of leases) {
      const mine = lease.spec?.holderIdentity === this.#options.identity;
      if (mine) await this.#release(lease).catch(() => {});
    }
  }

  async #attempt(): Promise<void> {
    const now = Date.now();
    try {
      await this.#roundAt(now);
    } catch (error) {
      this.#options.logger.warn({ event: 'shard_round_failed', err: (error as Error).message }, 'cannot read or renew the shard Leases');
      this.#dropExpired(now);
    }
  }

  async #roundAt(now: number): Promise<void> {
    const { identity, shards } = this.#options;
    const leases = await this.#list();
    const byName = new Map(leases.map((lease) => [lease.metadata?.name as string, lease]));
    await this.#renewMember(byName.get(this.#memberName(identity)), now);
    const view: { holders: (string | null)[]; members: string[] } = { holders: [], members: [] };
    for (let shard = 0; shard < shards; shard++) view.holders.push(this.#liveHolder(byName.get(this.#shardName(shard)), now));
    for (const lease of leases)
      if (lease.metadata?.labels?.[ROLE_LABEL] === 'member') {
        const holder = this.#liveHolder(lease, now);
        if (holder !== null) view.members.push(holder);
      }
    let changed = false;
    // Renew what is held (a conflict means another replica took it: lost).
    for (const shard of this.held()) {
      const lease = byName.get(this.#shardName(shard));
      const ok = lease !== undefined && lease.spec?.holderIdentity === identity && (await this.#write(lease, shard, now));
      if (ok) this.#held.set(shard, now);
      else {
        this.#held.delete(shard);
        view.holders[shard] = lease?.spec?.holderIdentity ?? null;
        changed = true;
        this.#options.logger.warn({ event: 'shard_lost', shard, identity }, `lost shard ${shard}`);
      }
    }
    const plan = planShards(view, identity);
    for (const shard of plan.release) {
      // Stop serving first, then give the Lease back: never two writers.
      this.#held.delete(shard);
      this.emit('changed');
      const lease = byName.get(this.#shardName(shard));
      if (lease !== undefined) await this.#release(lease).catch(() => {});
      this.#options.logger.info({ event: 'shard_released', shard, identity }, `gave shard ${shard} back (more than a fair share)`);
    }
    for (const shard of plan.take) {
      if (await this.#write(byName.get(this.#shardName(shard)), shard, now)) {
        this.#held.set(shard, now);
        changed = true;
        this.#options.logger.info({ event: 'shard_acquired', shard, identity }, `holding shard ${shard}`);
      }
    }
    if (changed) this.emit('changed');
  }

  /** Shards not renewed within the renew deadline are no longer written for (the API server is unreachable). */
  #dropExpired(now: number): void {
    let changed = false;
    for (const [shard, renewed] of this.#held)
      if (now - renewed >= this.#options.renewDeadlineSeconds * 1000) {
        this.#held.delete(shard);
        changed = true;
      }
    if (changed) this.emit('changed');
  }

  /** The holder of a Lease if it is alive: set, and its record changed within a lease duration of this replica seeing it. */
  #liveHolder(lease: V1Lease | undefined, now: number): string | null {
    if (lease === undefined) return null;
    const name = lease.metadata?.name as string;
    const holder = lease.spec?.holderIdentity || null;
    const renewTime = lease.spec?.renewTime === undefined ? null : new Date(lease.spec.renewTime).toISOString();
    const before = this.#observed.get(name);
    const observed = before !== undefined && before.holder === holder && before.renewTime === renewTime ? before : { holder, renewTime, at: now };
    this.#observed.set(name, observed);
    if (holder === null) return null;
    if (holder === this.#options.identity) return holder;
    const duration = (lease.spec?.leaseDurationSeconds ?? this.#options.leaseDurationSeconds) * 1000;
    return now < observed.at + duration ? holder : null;
  }

  #list(): Promise<V1Lease[]> {
    return this.#api
      .listNamespacedLease({ namespace: this.#options.namespace, labelSelector: `${SHARD_SET_LABEL}=${this.#options.name}` })
      .then((list) => list.items);
  }

  #shardName(shard: number): string {
    return `${this.#options.name}-shard-${shard}`;
  }

  #memberName(identity: string): string {
    return `${this.#options.name}-member-${fnv1a(identity).toString(16)}`;
  }

  #renewMember(lease: V1Lease | undefined, now: number): Promise<boolean> {
    return this.#put(lease, this.#memberName(this.#options.identity), 'member', now);
  }

  /** Takes or renews a shard's Lease (created when missing); false when another replica's write won. */
  #write(lease: V1Lease | undefined, shard: number, now: number): Promise<boolean> {
    return this.#put(lease, this.#shardName(shard), 'shard', now);
  }

  async #put(lease: V1Lease | undefined, name: string, role: 'shard' | 'member', now: number): Promise<boolean> {
    const { namespace, identity, leaseDurationSeconds } = this.#options;
    const renewing = lease?.spec?.holderIdentity === identity;
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: microTime(renewing && lease?.spec?.acquireTime !== undefined ? new Date(lease.spec.acquireTime) : new Date(now)),
      renewTime: microTime(new Date(now)),
      leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (lease === undefined || renewing ? 0 : 1),
    };
    const labels = { [SHARD_SET_LABEL]: this.#options.name, [ROLE_LABEL]: role };
    try {
      if (lease === undefined) await this.#api.createNamespacedLease({ namespace, body: { metadata: { name, namespace, labels }, spec } });
      else await this.#api.replaceNamespacedLease({ name, namespace, body: { metadata: { ...lease.metadata, name, namespace, labels }, spec } });
      this.writes++;
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 409) return false;
      throw error;
    }
  }

  async #release(lease: V1Lease): Promise<void> {
    const spec = lease.spec ?? {};
    await this.#api.replaceNamespacedLease({
      name: lease.metadata?.name as string,
      namespace: this.#options.namespace,
      body: {
        metadata: lease.metadata,
        spec: {
          ...spec,
          ...(spec.acquireTime === undefined ? {} : { acquireTime: microTime(new Date(spec.acquireTime)) }),
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(new Date()),
        },
      },
    });
    this.writes++;
  }
}
