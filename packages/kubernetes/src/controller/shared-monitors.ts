import { EventEmitter } from 'node:events';
import type { SnapshotSource } from '@lagscale/autoscaler';
import {
  DEFAULT_SHARE_GROUP_MAX_SIZE,
  type GroupKind,
  type GroupLag,
  groupLagForTopics,
  type LagSnapshot,
  type ShareGroupLag,
  shareGroupLagForTopics,
} from '@lagscale/core';
import type { Logger } from '@lagscale/exporter';
import { type KafkaConnectionOptions, LagMonitor, type LagMonitorEvents } from '@lagscale/kafka';

interface SharedMonitor {
  readonly monitor: LagMonitor;
  refs: number;
  /** The groups its users follow, with how many follow each: the collection reads these alone. */
  readonly groups: Map<string, number>;
  /** Their names as the collector asks for them; null after a group came or went. */
  readonly named: { list: string[] | null };
  /** The brokers' group.share.max.size, asked once (the first share-group ScaledConsumer on the cluster). */
  shareGroupMaxSize?: Promise<number>;
}

/**
 * One lag collection per Kafka cluster, shared by every ScaledConsumer on it (the collector
 * batches its requests per broker, so 200 ScaledConsumers on one cluster cost one cycle, not 200).
 * It reads only the groups its ScaledConsumers follow (not every group of the cluster: a shard
 * collects for its own share). Started on first use, stopped when the last user is gone.
 */
export class SharedMonitors {
  readonly #monitors = new Map<string, SharedMonitor>();
  readonly #intervalSeconds: number;
  readonly #logger: Logger;

  constructor(options: { readonly intervalSeconds?: number; readonly logger: Logger }) {
    this.#intervalSeconds = options.intervalSeconds ?? 5;
    this.#logger = options.logger;
  }

  get size(): number {
    return this.#monitors.size;
  }

  /** The monitors by cluster key, for the metrics API and the controller's own metrics. */
  entries(): [string, LagMonitor][] {
    return [...this.#monitors].map(([key, shared]) => [key, shared.monitor]);
  }

  acquire(clusterKey: string, connection: KafkaConnectionOptions, group: string): LagMonitor {
    let shared = this.#monitors.get(clusterKey);
    if (shared === undefined) {
      const groups = new Map<string, number>();
      const named: SharedMonitor['named'] = { list: null };
      // Asked at each collection; the list is made again only after a group came or went.
      const monitor = new LagMonitor({ connection, intervalSeconds: this.#intervalSeconds, groups: () => (named.list ??= [...groups.keys()]) });
      // One snapshot and one error listener per ScaledConsumer on the cluster: hundreds is normal.
      monitor.setMaxListeners(0);
      monitor.on('error', (error) =>
        this.#logger.warn({ event: 'collection_failed', brokers: connection.brokers, err: error.message }, 'lag collection failed'),
      );
      monitor.start();
      shared = { monitor, refs: 0, groups, named };
      this.#monitors.set(clusterKey, shared);
      this.#logger.info({ event: 'lag_collection_started', brokers: connection.brokers }, `collecting lag from ${connection.brokers.join(',')}`);
    }
    shared.refs++;
    if (!shared.groups.has(group)) shared.named.list = null;
    shared.groups.set(group, (shared.groups.get(group) ?? 0) + 1);
    return shared.monitor;
  }

  /**
   * The cluster's group.share.max.size (one DescribeConfigs, then remembered), or 200, the
   * brokers' default, when no broker tells.
   */
  shareGroupMaxSize(clusterKey: string): Promise<number> {
    const shared = this.#monitors.get(clusterKey);
    if (shared === undefined) return Promise.resolve(DEFAULT_SHARE_GROUP_MAX_SIZE);
    shared.shareGroupMaxSize ??= shared.monitor.collector.shareGroupMaxSize().then(
      (size) => size ?? DEFAULT_SHARE_GROUP_MAX_SIZE,
      (error: unknown) => {
        this.#logger.warn(
          { event: 'share_group_max_size_unknown', err: (error as Error).message },
          `cannot read group.share.max.size; assuming ${DEFAULT_SHARE_GROUP_MAX_SIZE} (set spec.shareGroupMaxSize to say)`,
        );
        shared.shareGroupMaxSize = undefined;
        return DEFAULT_SHARE_GROUP_MAX_SIZE;
      },
    );
    return shared.shareGroupMaxSize;
  }

  async release(clusterKey: string, group: string): Promise<void> {
    const shared = this.#monitors.get(clusterKey);
    if (shared === undefined) return;
    const following = (shared.groups.get(group) ?? 1) - 1;
    if (following > 0) shared.groups.set(group, following);
    else {
      shared.groups.delete(group);
      shared.named.list = null;
    }
    shared.refs--;
    if (shared.refs > 0) return;
    this.#monitors.delete(clusterKey);
    await shared.monitor.stop();
  }

  async close(): Promise<void> {
    const all = [...this.#monitors.values()];
    this.#monitors.clear();
    await Promise.all(all.map((shared) => shared.monitor.stop()));
  }
}

/** A snapshot's consumer and share groups by name. */
interface SnapshotIndex {
  readonly groups: ReadonlyMap<string, GroupLag>;
  readonly shareGroups: ReadonlyMap<string, ShareGroupLag>;
}

/**
 * Each snapshot's groups by name, made by the first view that looks (a monitor's snapshot is seen
 * by every ScaledConsumer on its cluster: a find per view would be O(groups²) per cycle). Kept
 * while the snapshot lives.
 */
const snapshotIndexes = new WeakMap<LagSnapshot, SnapshotIndex>();

function indexOf(snapshot: LagSnapshot): SnapshotIndex {
  let index = snapshotIndexes.get(snapshot);
  if (index === undefined) {
    // The first of a name wins, as a find would.
    const groups = new Map<string, GroupLag>();
    for (const g of snapshot.groups) if (!groups.has(g.group)) groups.set(g.group, g);
    const shareGroups = new Map<string, ShareGroupLag>();
    for (const g of snapshot.shareGroups ?? []) if (!shareGroups.has(g.group)) shareGroups.set(g.group, g);
    index = { groups, shareGroups };
    snapshotIndexes.set(snapshot, index);
  }
  return index;
}

/**
 * A monitor's snapshots as one ScaledConsumer sees them: only its group (consumer or share group),
 * and of that group only its topics (when it names any), with the group's totals recomputed.
 */
export class GroupView extends EventEmitter<LagMonitorEvents> implements SnapshotSource {
  readonly #monitor: LagMonitor;
  readonly #group: string;
  readonly #kind: GroupKind;
  readonly #topics: ReadonlySet<string> | null;
  readonly #onSnapshot = (snapshot: LagSnapshot): void => {
    this.emit('snapshot', this.view(snapshot));
  };
  readonly #onError = (error: Error): void => {
    this.emit('error', error);
  };

  constructor(monitor: LagMonitor, group: string | { readonly name: string; readonly kind: GroupKind }, topics: readonly string[] | undefined) {
    super();
    this.#monitor = monitor;
    this.#group = typeof group === 'string' ? group : group.name;
    this.#kind = typeof group === 'string' ? 'consumer' : group.kind;
    this.#topics = topics === undefined || topics.length === 0 ? null : new Set(topics);
    monitor.on('snapshot', this.#onSnapshot);
    monitor.on('error', this.#onError);
  }

  view(snapshot: LagSnapshot): LagSnapshot {
    if (this.#kind === 'share') {
      const share = indexOf(snapshot).shareGroups.get(this.#group);
      const shareGroups = share === undefined ? [] : [this.#topics === null ? share : shareGroupLagForTopics(share, this.#topics)];
      return { ...snapshot, groups: [], shareGroups };
    }
    const group = indexOf(snapshot).groups.get(this.#group);
    const groups = group === undefined ? [] : [this.#topics === null ? group : groupLagForTopics(group, this.#topics)];
    const { shareGroups: _others, ...rest } = snapshot;
    return { ...rest, groups };
  }

  /** The latest snapshot of the monitor, as this view sees it. */
  get latest(): LagSnapshot | null {
    const latest = this.#monitor.latest;
    return latest === null ? null : this.view(latest);
  }

  detach(): void {
    this.#monitor.off('snapshot', this.#onSnapshot);
    this.#monitor.off('error', this.#onError);
  }
}
