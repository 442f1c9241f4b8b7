import { type LagSnapshot, type SharePartitionLag, STATUSES } from '@lagscale/core';
import { PartitionLabels } from './label-cache.js';
import type { PrometheusText } from './prometheus.js';

/**
 * Share-group series (KIP-932), `lagscale_sharegroup_…` with a `sharegroup` label: no other
 * exporter has them, and keeping them apart from `kafka_consumergroup_…` keeps dashboards that
 * sum consumer-group lag from counting queues in.
 */
export function writeShareGroupMetrics(out: PrometheusText, snapshot: LagSnapshot, pairs = new PartitionLabels('sharegroup')): void {
  const groups = snapshot.shareGroups ?? [];
  out.family('lagscale_sharegroup_members', 'gauge', 'Members of a share group.');
  for (const g of groups) out.sample('lagscale_sharegroup_members', { sharegroup: g.group }, g.members);
  out.family('lagscale_sharegroup_start_offset', 'gauge', 'Share-partition start offset: every record below it is acknowledged.');
  partitionSamples(out, 'lagscale_sharegroup_start_offset', snapshot, pairs, (p) => p.startOffset);
  out.family(
    'lagscale_sharegroup_lag',
    'gauge',
    "Records of a share-partition not yet acknowledged: the broker's count (KIP-1226), or end - start where the broker does not count.",
  );
  partitionSamples(out, 'lagscale_sharegroup_lag', snapshot, pairs, (p) => p.lag);
  out.family('lagscale_sharegroup_lag_sum', 'gauge', 'Share-group lag summed over the partitions of a topic (left out while a partition lag is unknown).');
  for (const g of groups) {
    const sums = new Map<string, number | null>();
    for (const p of g.partitions) {
      const sum = sums.get(p.topic);
      sums.set(p.topic, p.lag === null || sum === null ? null : (sum ?? 0) + p.lag);
    }
    for (const [topic, sum] of sums) if (sum !== null) out.sample('lagscale_sharegroup_lag_sum', { sharegroup: g.group, topic }, sum);
  }
  out.family(
    'lagscale_sharegroup_lag_exact',
    'gauge',
    "1 when every partition lag of the share group is the broker's count, 0 when some is an upper bound or unknown.",
  );
  for (const g of groups) out.sample('lagscale_sharegroup_lag_exact', { sharegroup: g.group }, g.lagExact ? 1 : 0);
  out.family('lagscale_sharegroup_time_lag_seconds', 'gauge', 'Age of the oldest record not acknowledged, in seconds, per share-partition.');
  partitionSamples(out, 'lagscale_sharegroup_time_lag_seconds', snapshot, pairs, (p) => p.timeLagSeconds);
  out.family('lagscale_sharegroup_max_time_lag_seconds', 'gauge', 'Largest share-partition time lag of a share group, in seconds.');
  for (const g of groups) if (g.timeLagSeconds !== null) out.sample('lagscale_sharegroup_max_time_lag_seconds', { sharegroup: g.group }, g.timeLagSeconds);
  out.family('lagscale_sharegroup_acknowledged_records_per_second', 'gauge', 'Smoothed rate at which records of a share group stop waiting (acknowledged).');
  for (const g of groups)
    if (g.acknowledgeRate !== null) out.sample('lagscale_sharegroup_acknowledged_records_per_second', { sharegroup: g.group }, g.acknowledgeRate);
  out.family('lagscale_sharegroup_status', 'gauge', 'Burrow-style status of a share group (on its start offsets): 1 for the current status, 0 for the others.');
  for (const g of groups) for (const s of STATUSES) out.sample('lagscale_sharegroup_status', { sharegroup: g.group, status: s }, g.status === s ? 1 : 0);
}

function partitionSamples(
  out: PrometheusText,
  name: string,
  snapshot: LagSnapshot,
  pairs: PartitionLabels,
  value: (p: SharePartitionLag) => number | null,
): void {
  for (const g of snapshot.shareGroups ?? []) {
    for (const p of g.partitions) {
      const v = value(p);
      if (v !== null) out.sampleWithLabelText(name, pairs.text(g.group, p.topic, p.partition), v);
    }
  }
}
