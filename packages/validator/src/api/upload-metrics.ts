import type { PrometheusText } from '@lagscale/exporter';

/**
 * Counters of the API's uploads: records produced for the workers, and records the upload itself
 * sent to the DLQ (lines that are not records: bad JSON, a CSV row of the wrong width, too big),
 * which no worker sees. Written as `lagscale_validator_upload_*` families.
 */
export class UploadMetrics {
  readonly #uploads = new Map<string, number>();
  #produced = 0;
  #deadLettered = 0;

  upload(outcome: 'completed' | 'failed', produced: number, deadLettered: number): void {
    this.#uploads.set(outcome, (this.#uploads.get(outcome) ?? 0) + 1);
    this.#produced += produced;
    this.#deadLettered += deadLettered;
  }

  write(out: PrometheusText): void {
    out.family('lagscale_validator_uploads_total', 'counter', 'Uploads the API read, by outcome (completed, failed).');
    for (const outcome of ['completed', 'failed']) out.sample('lagscale_validator_uploads_total', { outcome }, this.#uploads.get(outcome) ?? 0);
    out.family('lagscale_validator_upload_records_total', 'counter', 'Records of uploads: produced for the workers, or sent to the DLQ by the upload itself.');
    out.sample('lagscale_validator_upload_records_total', { outcome: 'produced' }, this.#produced);
    out.sample('lagscale_validator_upload_records_total', { outcome: 'dlq' }, this.#deadLettered);
  }
}
