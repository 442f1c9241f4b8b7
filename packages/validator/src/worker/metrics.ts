import { Histogram, type PrometheusText } from '@lagscale/exporter';

/** Counters of one worker process, written as `lagscale_validator_*` families. */
export class WorkerMetrics {
  readonly #records = new Map<string, number>();
  readonly #violations = new Map<string, number>();
  readonly #dlqByCode = new Map<string, number>();
  readonly #batchSeconds = new Histogram([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  #batches = 0;
  #commitRefusals = 0;
  #consumerRestarts = 0;
  readonly #threadReplacements = new Map<string, number>([
    ['timeout', 0],
    ['crash', 0],
  ]);
  #storeAvailable = true;
  readonly #shareAcknowledgements = new Map<string, number>();
  #shareRedeliveries = 0;

  recordOutcome(outcome: 'valid' | 'invalid' | 'dlq', count = 1): void {
    this.#records.set(outcome, (this.#records.get(outcome) ?? 0) + count);
  }

  violation(severity: string, count = 1): void {
    this.#violations.set(severity, (this.#violations.get(severity) ?? 0) + count);
  }

  dlq(code: string): void {
    this.#dlqByCode.set(code, (this.#dlqByCode.get(code) ?? 0) + 1);
  }

  batch(seconds: number): void {
    this.#batches++;
    this.#batchSeconds.observe(seconds);
  }

  /** Whether the result store answers; while it does not, the worker holds its batch and offsets. */
  storeAvailable(available: boolean): void {
    this.#storeAvailable = available;
  }

  /** The consumer failed after it had worked and is started again in the same process. */
  consumerRestarted(): void {
    this.#consumerRestarts++;
  }

  /** A validation thread was stopped over a budget (`timeout`) or died (`crash`), and replaced. */
  validationIncident(kind: 'timeout' | 'crash'): void {
    this.#threadReplacements.set(kind, (this.#threadReplacements.get(kind) ?? 0) + 1);
  }

  /** Records of a share group acknowledged: accept (stored), reject (dead-lettered), release (given back). */
  shareAcknowledged(type: 'accept' | 'reject' | 'release', count: number): void {
    this.#shareAcknowledgements.set(type, (this.#shareAcknowledgements.get(type) ?? 0) + count);
  }

  /** Records of a share group that arrived delivered before (a crash, an expired lock, a release). */
  shareRedelivered(count: number): void {
    this.#shareRedeliveries += count;
  }

  commitRefused(count: number): void {
    this.#commitRefusals += count;
  }

  write(out: PrometheusText, labels: Readonly<Record<string, string>>): void {
    out.family('lagscale_validator_records_total', 'counter', 'Records this worker finished, by outcome (valid, invalid, dlq).');
    for (const outcome of ['valid', 'invalid', 'dlq']) out.sample('lagscale_validator_records_total', { ...labels, outcome }, this.#records.get(outcome) ?? 0);
    out.family('lagscale_validator_violations_total', 'counter', 'Rule violations found, by severity.');
    for (const [severity, count] of this.#violations) out.sample('lagscale_validator_violations_total', { ...labels, severity }, count);
    out.family('lagscale_validator_dlq_records_total', 'counter', 'Records sent to the dead-letter queue, by reason code.');
    for (const [code, count] of this.#dlqByCode) out.sample('lagscale_validator_dlq_records_total', { ...labels, code }, count);
    out
      .family('lagscale_validator_batches_total', 'counter', 'Batches stored and committed.')
      .sample('lagscale_validator_batches_total', labels, this.#batches);
    this.#batchSeconds.write(out, 'lagscale_validator_batch_duration_seconds', 'Time to validate and store one batch.', labels);
    out.family(
      'lagscale_validator_commit_refusals_total',
      'counter',
      'Records whose offset commit the coordinator refused after a rebalance (re-read by their new owner).',
    );
    out.sample('lagscale_validator_commit_refusals_total', labels, this.#commitRefusals);
    out
      .family(
        'lagscale_validator_consumer_restarts_total',
        'counter',
        'Times the Kafka consumer failed after it had worked and rejoined its group in the same process.',
      )
      .sample('lagscale_validator_consumer_restarts_total', labels, this.#consumerRestarts);
    out.family(
      'lagscale_validator_thread_replacements_total',
      'counter',
      'Validation threads replaced: stopped when a record or compile overran its time budget (timeout), or dead (crash).',
    );
    for (const [reason, count] of this.#threadReplacements) out.sample('lagscale_validator_thread_replacements_total', { ...labels, reason }, count);
    if (this.#shareAcknowledgements.size > 0 || this.#shareRedeliveries > 0) {
      out.family(
        'lagscale_validator_share_acknowledgements_total',
        'counter',
        'Share-group records acknowledged: accept (result stored), reject (dead-lettered, never delivered again), release (given back).',
      );
      for (const type of ['accept', 'reject', 'release'])
        out.sample('lagscale_validator_share_acknowledgements_total', { ...labels, type }, this.#shareAcknowledgements.get(type) ?? 0);
      out
        .family(
          'lagscale_validator_share_redeliveries_total',
          'counter',
          'Share-group records that arrived delivered before (a member died or gave them back): a signal, not lag.',
        )
        .sample('lagscale_validator_share_redeliveries_total', labels, this.#shareRedeliveries);
    }
    out
      .family(
        'lagscale_validator_store_up',
        'gauge',
        '1 while the result store answers, 0 while the worker retries a write it does not take (the store is its bottleneck).',
      )
      .sample('lagscale_validator_store_up', labels, this.#storeAvailable ? 1 : 0);
  }
}
