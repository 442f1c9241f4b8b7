import { type LagSnapshot, type PartitionLag, STATUSES, statusSeverity } from '@lagscale/core';
import type { LagMonitor } from '@lagscale/kafka';
import { PartitionLabels } from './label-cache.js';
import { Histogram, type PrometheusText } from './prometheus.js';
import { writeShareGroupMetrics } from './share-metrics.js';

/**
 * Lag metrics. Names that mean what kafka_exporter's mean keep its names and labels, so
 * existing dashboards and alerts work; everything else is `lagscale_…`.
 */
export function writeLagMetrics(out: PrometheusText, snapshot: LagSnapshot, labels: LagLabels = new LagLabels()): void {
  labels.begin();
  const { partitions, pairs } = labels;
  out.family('kafka_brokers', 'gauge', 'Number of brokers in the Kafka cluster.').sample('kafka_brokers', {}, snapshot.stats.brokers);

  out.family('kafka_topic_partitions', 'gauge', 'Number of partitions for this topic.');
  for (const topic of snapshot.topics) out.sample('kafka_topic_partitions', { topic: topic.topic }, topic.partitions.length);
  out.family('kafka_topic_partition_current_offset', 'gauge', 'Current offset (log end, high watermark) of a partition.');
  for (const topic of snapshot.topics) {
    for (const p of topic.partitions) {
      if (p.logEndOffset !== null)
        out.sampleWithLabelText('kafka_topic_partition_current_offset', partitions.text('', topic.topic, p.partition), p.logEndOffset);
    }
  }
  out.family('kafka_topic_partition_oldest_offset', 'gauge', 'Oldest offset (log start) of a partition.');
  for (const topic of snapshot.topics) {
    for (const p of topic.partitions) {
      if (p.logStartOffset !== null)
        out.sampleWithLabelText('kafka_topic_partition_oldest_offset', partitions.text('', topic.topic, p.partition), p.logStartOffset);
    }
  }
  out.family('kafka_topic_partition_leader', 'gauge', 'Leader broker id of a partition (-1: none).');
  for (const topic of snapshot.topics)
    for (const p of topic.partitions) out.sampleWithLabelText('kafka_topic_partition_leader', partitions.text('', topic.topic, p.partition), p.leader);
  out.family('lagscale_topic_partition_offsets_available', 'gauge', '1 when the partition offsets were read this cycle, 0 when its broker could not be read.');
  for (const topic of snapshot.topics) {
    for (const p of topic.partitions)
      out.sampleWithLabelText('lagscale_topic_partition_offsets_available', partitions.text('', topic.topic, p.partition), p.logEndOffset === null ? 0 : 1);
  }
  out.family('lagscale_topic_produced_records_per_second', 'gauge', 'Smoothed produce rate of a topic (log-end offset growth).');
  for (const topic of snapshot.topics) {
    let rate: number | null = null;
    for (const p of topic.partitions) if (p.produceRate !== null) rate = (rate ?? 0) + p.produceRate;
    if (rate !== null) out.sample('lagscale_topic_produced_records_per_second', { topic: topic.topic }, rate);
  }

  out.family('kafka_consumergroup_members', 'gauge', 'Number of members in a consumer group.');
  for (const g of snapshot.groups) out.sample('kafka_consumergroup_members', { consumergroup: g.group }, g.members);
  out.family('kafka_consumergroup_current_offset', 'gauge', 'Committed offset of a consumer group at a partition.');
  groupPartitionSamples(out, 'kafka_consumergroup_current_offset', snapshot, pairs, (p) => p.committedOffset);
  out.family('kafka_consumergroup_current_offset_sum', 'gauge', 'Sum of the committed offsets of a consumer group on a topic.');
  for (const g of snapshot.groups) {
    for (const [topic, sum] of sumByTopic(g.partitions, (p) => p.committedOffset))
      out.sample('kafka_consumergroup_current_offset_sum', { consumergroup: g.group, topic }, sum);
  }
  out.family('kafka_consumergroup_lag', 'gauge', 'Lag of a consumer group at a partition (log end - committed offset).');
  groupPartitionSamples(out, 'kafka_consumergroup_lag', snapshot, pairs, (p) => p.lag);
  out.family('kafka_consumergroup_lag_sum', 'gauge', 'Lag of a consumer group summed over the partitions of a topic.');
  for (const g of snapshot.groups) {
    // Only whole sums: with a partition's lag unknown (its leader gone, say) the sum of the rest
    // would read as a drop in lag; the series is absent instead (lagscale_consumergroup_lag_complete says why).
    for (const [topic, sum] of sumByTopic(g.partitions, (p) => p.lag, true)) out.sample('kafka_consumergroup_lag_sum', { consumergroup: g.group, topic }, sum);
  }

  out.family('lagscale_consumergroup_lag_complete', 'gauge', '1 when every partition lag of the group was known this cycle.');
  for (const g of snapshot.groups) out.sample('lagscale_consumergroup_lag_complete', { consumergroup: g.group }, g.lagComplete ? 1 : 0);
  out.family('lagscale_consumergroup_time_lag_seconds', 'gauge', 'How far behind the newest record the consumer is, in seconds, per partition.');
  groupPartitionSamples(out, 'lagscale_consumergroup_time_lag_seconds', snapshot, pairs, (p) => p.timeLagSeconds);
  out.family('lagscale_consumergroup_max_time_lag_seconds', 'gauge', 'Largest partition time lag of a consumer group, in seconds.');
  for (const g of snapshot.groups)
    if (g.timeLagSeconds !== null) out.sample('lagscale_consumergroup_max_time_lag_seconds', { consumergroup: g.group }, g.timeLagSeconds);
  out.family('lagscale_consumergroup_consumed_records_per_second', 'gauge', 'Smoothed consume rate of a group (committed offset growth).');
  for (const g of snapshot.groups)
    if (g.consumeRate !== null) out.sample('lagscale_consumergroup_consumed_records_per_second', { consumergroup: g.group }, g.consumeRate);
  out.family('lagscale_consumergroup_produced_records_per_second', 'gauge', 'Smoothed produce rate into the partitions a group consumes.');
  for (const g of snapshot.groups)
    if (g.produceRate !== null) out.sample('lagscale_consumergroup_produced_records_per_second', { consumergroup: g.group }, g.produceRate);
  out.family('lagscale_consumergroup_status', 'gauge', 'Burrow-style status of a consumer group: 1 for the current status, 0 for the others.');
  for (const g of snapshot.groups)
    for (const s of STATUSES) out.sample('lagscale_consumergroup_status', { consumergroup: g.group, status: s }, g.status === s ? 1 : 0);
  out.family('lagscale_consumergroup_partition_status_severity', 'gauge', 'Status severity of a group partition: 0 OK, 1 WARN, 2 ERR/STOP/STALL/REWIND.');
  for (const g of snapshot.groups) {
    for (const p of g.partitions) {
      const text = `${pairs.text(g.group, p.topic, p.partition)},status="${p.status}"`;
      out.sampleWithLabelText('lagscale_consumergroup_partition_status_severity', text, statusSeverity(p.status));
    }
  }
  writeShareGroupMetrics(out, snapshot, labels.sharePairs);
}

/** One sample per group partition whose value is known, labelled as kafka_exporter labels them. */
function groupPartitionSamples(
  out: PrometheusText,
  name: string,
  snapshot: LagSnapshot,
  pairs: PartitionLabels,
  value: (p: PartitionLag) => number | null,
): void {
  for (const g of snapshot.groups) {
    for (const p of g.partitions) {
      const v = value(p);
      if (v !== null) out.sampleWithLabelText(name, pairs.text(g.group, p.topic, p.partition), v);
    }
  }
}

/** Per topic, the sum of the partitions' values; with `wholeOnly`, topics with an unknown (null) value are left out. */
function sumByTopic<T extends { topic: string }>(partitions: readonly T[], value: (p: T) => number | null, wholeOnly = false): Map<string, number> {
  const sums = new Map<string, number>();
  const partial = new Set<string>();
  for (const p of partitions) {
    const v = value(p);
    if (v !== null) sums.set(p.topic, (sums.get(p.topic) ?? 0) + v);
    else partial.add(p.topic);
  }
  if (wholeOnly) for (const topic of partial) sums.delete(topic);
  return sums;
}

/** The exporter's own health: cycles, durations, requests and errors of collection. */
export class CollectionMetrics {
  readonly #duration = new Histogram([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  #cycles = 0;
  #failed = 0;
  #requests = 0;
  readonly #errors = new Map<string, number>();
  #lastSuccess = 0;

  constructor(monitor: LagMonitor) {
    monitor.on('snapshot', (snapshot) => {
      this.#cycles++;
      this.#requests += snapshot.stats.requests;
      this.#duration.observe(snapshot.stats.durationMs / 1000);
      this.#lastSuccess = snapshot.time / 1000;
      for (const e of snapshot.errors) this.#errors.set(e.operation, (this.#errors.get(e.operation) ?? 0) + 1);
    });
    monitor.on('error', () => {
      this.#failed++;
      this.#errors.set('Metadata', (this.#errors.get('Metadata') ?? 0) + 1);
    });
  }

  write(out: PrometheusText): void {
    this.#duration.write(out, 'lagscale_collection_duration_seconds', 'Time one lag collection cycle took.');
    out.family('lagscale_collection_cycles_total', 'counter', 'Lag collection cycles completed.').sample('lagscale_collection_cycles_total', {}, this.#cycles);
    out.family('lagscale_collection_failed_cycles_total', 'counter', 'Lag collection cycles that could not read the cluster at all.');
    out.sample('lagscale_collection_failed_cycles_total', {}, this.#failed);
    out
      .family('lagscale_collection_requests_total', 'counter', 'Kafka requests sent by lag collection.')
      .sample('lagscale_collection_requests_total', {}, this.#requests);
    out.family('lagscale_collection_errors_total', 'counter', 'Kafka requests of lag collection that failed, by request.');
    for (const [operation, count] of this.#errors) out.sample('lagscale_collection_errors_total', { operation }, count);
    out.family('lagscale_collection_last_success_timestamp_seconds', 'gauge', 'Unix time of the last successful collection cycle.');
    out.sample('lagscale_collection_last_success_timestamp_seconds', {}, this.#lastSuccess);
  }
}

/** The label texts of partitions, of group partitions and of share-group partitions, kept between scrapes. */
export class LagLabels {
  readonly partitions = new PartitionLabels('');
  readonly pairs = new PartitionLabels('consumergroup');
  readonly sharePairs = new PartitionLabels('sharegroup');

  begin(): void {
    this.partitions.begin();
    this.pairs.begin();
    this.sharePairs.begin();
  }
}

export function renderMetrics(out: PrometheusText, monitor: LagMonitor, collection: CollectionMetrics, labels: LagLabels): void {
  if (monitor.latest) writeLagMetrics(out, monitor.latest, labels);
  collection.write(out);
}
