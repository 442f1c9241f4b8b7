/**
 * The commit side of a batch consumer that commits offsets (a classic group's, a consumer-protocol
 * group's): handled batches whose work is still settling are chained in order, each committed
 * only after it settled; one commit is in flight at a time (so commits land in order) and it takes
 * everything settled since the last one. A settle that fails stops the chain: that batch and the
 * later ones are never committed.
 */
import type { ConsumerLogger } from './batch-consumer.js';

/** Handled batches whose work is still settling, at most; then handling waits. */
const MAX_UNSETTLED_BATCHES = 4;

export interface OrderedCommitsOptions<R> {
  readonly group: string;
  readonly logger: ConsumerLogger;
  /** Commits the records' offsets; returns the records whose offsets were committed. */
  readonly commit: (records: R[]) => Promise<ReadonlySet<R>>;
  /** Called with the records whose offsets were committed. */
  readonly committed?: (records: readonly R[]) => void;
  /** Called with how many records a commit left uncommitted (refused, or the commit failed): their partition's owner reads them again. */
  readonly refused?: (count: number) => void;
  /** Called once, when a batch's work failed to settle. */
  readonly failed: (error: Error) => void;
}

export class OrderedCommits<R> {
  readonly #options: OrderedCommitsOptions<R>;
  #failure: Error | null = null;
  #committedCount = 0;
  #discarded = 0;
  #settling: Promise<void> = Promise.resolve();
  #unsettled = 0;
  /** Each unsettled batch's place in the chain, oldest first: handling waits for the oldest only. */
  readonly #places: Promise<void>[] = [];
  #notCommitted: R[] = [];
  #committing: Promise<void> | null = null;
  /** Batches moved to the commit queue, and batches whose commit was answered (counted in order). */
  #queued = 0;
  #answered = 0;

  constructor(options: OrderedCommitsOptions<R>) {
    this.#options = options;
  }

  get failure(): Error | null {
    return this.#failure;
  }

  get committed(): number {
    return this.#committedCount;
  }

  /** Records whose commit was refused or failed. */
  get discarded(): number {
    return this.#discarded;
  }

  /** Waits until fewer than the allowed number of handled batches are settling; throws a settle's failure. */
  async room(): Promise<void> {
    while (this.#unsettled >= MAX_UNSETTLED_BATCHES) await this.#places[0];
    if (this.#failure !== null) throw this.#failure;
  }

  /** A batch was handled; it is committed once `settled` resolves (and every earlier batch settled). */
  handled(batch: R[], settled: Promise<unknown> | undefined): void {
    if (settled === undefined && this.#unsettled === 0) {
      this.#toCommit(batch);
      return;
    }
    this.#unsettled++;
    // Observed now, so that an early rejection is not reported as unhandled.
    settled?.catch(() => {});
    this.#settling = this.#settling
      .then(() => settled)
      .then(
        () => {
          if (this.#failure === null) this.#toCommit(batch);
        },
        (error: Error) => {
          if (this.#failure === null) {
            this.#failure = error;
            this.#options.failed(error);
          }
        },
      )
      .finally(() => {
        this.#unsettled--;
        this.#places.shift();
      });
    this.#places.push(this.#settling);
  }

  /** Waits until every batch handled so far settled and its commit was answered. */
  async throughNow(): Promise<void> {
    await this.#settling;
    const target = this.#queued;
    this.#startCommit();
    while (this.#answered < target && this.#committing !== null) await this.#committing;
  }

  /** Waits until every handled batch (also those handled meanwhile) settled and every commit was answered. */
  async drained(): Promise<void> {
    while (this.#unsettled > 0) await this.#settling;
    this.#startCommit();
    while (this.#committing !== null) await this.#committing;
  }

  #toCommit(batch: R[]): void {
    this.#notCommitted = this.#notCommitted.length === 0 ? batch : this.#notCommitted.concat(batch);
    this.#queued++;
    this.#startCommit();
  }

  #startCommit(): void {
    if (this.#committing !== null || this.#notCommitted.length === 0) return;
    const records = this.#notCommitted;
    const upTo = this.#queued;
    this.#notCommitted = [];
    this.#committing = this.#options
      .commit(records)
      .then(
        (accepted) => {
          const done = records.filter((r) => accepted.has(r));
          this.#discarded += records.length - done.length;
          this.#committedCount += done.length;
          if (done.length > 0) this.#options.committed?.(done);
          if (done.length < records.length) this.#options.refused?.(records.length - done.length);
        },
        (error: Error) => {
          this.#discarded += records.length;
          this.#options.refused?.(records.length);
          this.#options.logger.warn(
            { event: 'commit_failed', group: this.#options.group, err: error.message },
            'commit failed; the partitions re-read these records',
          );
        },
      )
      .finally(() => {
        this.#answered = upTo;
        this.#committing = null;
        this.#startCommit();
      });
  }
}
