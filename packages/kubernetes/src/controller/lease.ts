import { EventEmitter } from 'node:events';
import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '@lagscale/exporter';
import { microTime } from '../client/micro-time.js';
import { RetryLoop } from './retry-loop.js';

export interface LeaseElectorOptions extends Partial<LeaseTimes> {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  /** Lease name, e.g. `lagscale-controller`. */
  readonly name: string;
  /** Unique per instance: pod name, or host and pid. */
  readonly identity: string;
  readonly logger: Logger;
}

/** The timing of a Lease holder, client-go's defaults (seconds). */
export interface LeaseTimes {
  /** A holder that stops renewing loses the lease after this long. Default 15 s. */
  readonly leaseDurationSeconds: number;
  /** A holder stops writing when it could not renew for this long (shorter than the lease). Default 10 s. */
  readonly renewDeadlineSeconds: number;
  /** Between attempts to acquire or renew. Default 2 s. */
  readonly retryPeriodSeconds: number;
}

/** The times given, with the defaults for those left out; refuses a renew deadline not shorter than the lease. */
export function leaseTimes(given: Partial<LeaseTimes>): LeaseTimes {
  const times = {
    leaseDurationSeconds: given.leaseDurationSeconds ?? 15,
    renewDeadlineSeconds: given.renewDeadlineSeconds ?? 10,
    retryPeriodSeconds: given.retryPeriodSeconds ?? 2,
  };
  if (times.renewDeadlineSeconds >= times.leaseDurationSeconds) throw new RangeError('renewDeadlineSeconds must be shorter than leaseDurationSeconds');
  return times;
}

export interface LeaseElectorEvents {
  /** This instance holds the lease: it may write. */
  started: [];
  /** This instance lost (or gave up) the lease: it must stop writing at once. */
  stopped: [];
}

/**
 * Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does:
 * acquire when the lease is free or its holder stopped renewing (judged by the time this instance
 * saw the record change, never by comparing clocks), renew every retry period, and stop leading
 * when renewals fail for the renew deadline. Writes of the lease carry its resourceVersion, so two
 * instances can never both take it.
 */
export class LeaseElector extends EventEmitter<LeaseElectorEvents> {
  readonly #options: Required<Omit<LeaseElectorOptions, 'kubeConfig' | 'logger'>> & Pick<LeaseElectorOptions, 'logger'>;
  readonly #api: CoordinationV1Api;
  readonly #loop: RetryLoop;
  #leading = false;
  /** The lease record last seen (holder and renew time) and when this instance saw it change. */
  #observed: { holder: string | null; renewTime: string | null; at: number } | null = null;
  #lastRenew = 0;

  constructor(options: LeaseElectorOptions) {
    super();
    this.#api = options.kubeConfig.makeApiClient(CoordinationV1Api);
    this.#options = {
      namespace: options.namespace,
      name: options.name,
      identity: options.identity,
      logger: options.logger,
      ...leaseTimes(options),
    };
    this.#loop = new RetryLoop(() => this.#attempt(), this.#options.retryPeriodSeconds * 1000);
  }

  get leading(): boolean {
    return this.#leading;
  }

  /**
   * Whether a write may go out now: leading, and the last renewal is recent enough that no other
   * instance can have taken the lease (a process paused past its deadline must not write on waking).
   */
  mayWrite(now = Date.now()): boolean {
    return this.#leading && now - this.#lastRenew < this.#options.renewDeadlineSeconds * 1000;
  }

  get identity(): string {
    return this.#options.identity;
  }

  start(): void {
    this.#loop.start();
  }

  /** Stops trying; a leader gives the lease up (clears the holder) so another takes over at once. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    if (this.#leading) {
      this.#lose('stopping');
      await this.#release().catch((error: Error) =>
        this.#options.logger.warn({ event: 'lease_release_failed', lease: this.#options.name, err: error.message }, 'cannot release the lease'),
      );
    }
  }

  async #attempt(): Promise<void> {
    const now = Date.now();
    try {
      const acquired = await this.#tryAcquireOrRenew(now);
      if (acquired) {
        this.#lastRenew = now;
        if (!this.#leading) {
          this.#leading = true;
          this.#options.logger.info(
            { event: 'lease_acquired', lease: this.#options.name, identity: this.#options.identity },
            'leading: this instance holds the lease',
          );
          this.emit('started');
        }
      } else if (this.#leading) this.#lose('another instance holds the lease');
    } catch (error) {
      this.#options.logger.warn({ event: 'lease_attempt_failed', lease: this.#options.name, err: (error as Error).message }, 'cannot read or renew the lease');
      if (this.#leading && now - this.#lastRenew > this.#options.renewDeadlineSeconds * 1000) this.#lose('could not renew the lease within the renew deadline');
    }
  }

  #lose(why: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#options.logger.warn({ event: 'lease_lost', lease: this.#options.name, identity: this.#options.identity, why }, `stopped leading: ${why}`);
    this.emit('stopped');
  }

  async #tryAcquireOrRenew(now: number): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.#options;
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
      try {
        await this.#api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: microTime(new Date(now)),
              renewTime: microTime(new Date(now)),
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (creating) {
        if (creating instanceof ApiException && creating.code === 409) return false;
        throw creating;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? null;
    const renewTime = spec.renewTime === undefined ? null : new Date(spec.renewTime).toISOString();
    if (this.#observed === null || this.#observed.holder !== holder || this.#observed.renewTime !== renewTime) this.#observed = { holder, renewTime, at: now };
    const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const heldByOther = holder !== null && holder !== '' && holder !== identity;
    if (heldByOther && now < this.#observed.at + duration) return false;
    const transitions = (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1);
    try {
      await this.#api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          metadata: { ...lease.metadata, name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: microTime(holder === identity && spec.acquireTime !== undefined ? new Date(spec.acquireTime) : new Date(now)),
            renewTime: microTime(new Date(now)),
            leaseTransitions: transitions,
          },
        },
      });
      return true;
    } catch (error) {
      // Another instance wrote it first: its write wins, this one is not the leader.
      if (error instanceof ApiException && error.code === 409) return false;
      throw error;
    }
  }

  async #release(): Promise<void> {
    const { namespace, name, identity } = this.#options;
    const lease = await this.#api.readNamespacedLease({ name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    await this.#api.replaceNamespacedLease({
      name,
      namespace,
      body: {
        metadata: lease.metadata,
        spec: {
          ...lease.spec,
          ...(lease.spec.acquireTime === undefined ? {} : { acquireTime: microTime(new Date(lease.spec.acquireTime)) }),
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(new Date()),
        },
      },
    });
  }
}
