/**
 * Batches from a share group, settled record by record: what `runBatchConsumer` is for a classic
 * group, with acknowledgements where it commits offsets. A batch's records are accepted once the
 * handler's work on them is durable, rejected when the handler dead-lettered them, and released
 * when the handler failed or the consumer stops before they were handled.
 */
import type { GroupBatchConsumerOptions } from './batch-consumer.js';
import { ShareConsumer, type ShareRecord } from './share-consumer.js';
import { ACKNOWLEDGE } from './share-consumer-protocol.js';
import { Waker } from './waker.js';

/**
 * The batch's `settled` may name records it dead-lettered (`rejected`); the others are accepted.
 * Throwing, or a rejected `settled`, releases the batch's records and stops the consumer.
 */
export interface ShareBatchConsumerOptions extends GroupBatchConsumerOptions<ShareRecord> {
  /**
   * After the signal, how long batches in hand may take to settle before their records are
   * released for other members. Default 20 s.
   */
  readonly drainTimeoutMs?: number;
  /** Called as records are acknowledged (for metrics). */
  readonly acknowledged?: (type: 'accept' | 'reject' | 'release', count: number) => void;
  /** Called with records that arrived delivered before (delivery count above 1). */
  readonly redelivered?: (records: readonly ShareRecord[]) => void;
}

export interface ShareBatchConsumerResult {
  readonly handled: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly released: number;
  /** Records that arrived with a delivery count above 1 (delivered before, not settled then). */
  readonly redelivered: number;
}

/** Batches in hand at most (their records stay acquired, under lock, until settled). */
const MAX_UNSETTLED_BATCHES = 4;

/**
 * Consumes a share group in batches until the signal: each record is acknowledged once, after its
 * batch settled. Locks of records held longer than half the lock (a slow store) are renewed on
 * brokers that take it, so they are not delivered to another member meanwhile; records are
 * released only when this member gives them up (a failed batch, a stop before they were handled),
 * since every release spends one of the group's delivery attempts (5 by default, then the broker
 * archives the record).
 */
export async function runShareConsumer(options: ShareBatchConsumerOptions): Promise<ShareBatchConsumerResult> {
  const { logger, signal } = options;
  const batchSize = options.batchSize ?? 100;
  const idleFlushMs = options.idleFlushMs ?? 200;
  const consumer = new ShareConsumer({
    connection: options.connection,
    group: options.group,
    topics: options.topics,
    ...(options.clientId === undefined ? {} : { clientId: options.clientId }),
    maxRecords: batchSize,
    logger,
    ...(options.assigned === undefined ? {} : { assigned: options.assigned }),
  });
  try {
    await consumer.start();
  } catch (error) {
    await consumer.close().catch(() => {});
    throw error;
  }
  const counts = { handled: 0, accepted: 0, rejected: 0, released: 0, redelivered: 0 };
  let buffer: ShareRecord[] = [];
  /** Batches handed to the handler and not settled, with when their locks were last taken or renewed. */
  const inHand = new Map<readonly ShareRecord[], number>();
  let failure: Error | null = null;
  const waker = new Waker(signal);
  const release = (records: readonly ShareRecord[]): void => {
    for (const r of records) consumer.acknowledge(r, ACKNOWLEDGE.release);
    counts.released += records.length;
    if (records.length > 0) options.acknowledged?.('release', records.length);
  };
  const settle = (batch: readonly ShareRecord[], settled: Promise<unknown>): void => {
    settled
      .then(
        (verdicts) => {
          const rejected = (verdicts as { rejected?: ReadonlySet<unknown> } | undefined)?.rejected;
          let rejects = 0;
          for (const r of batch) {
            const reject = rejected?.has(r) === true;
            consumer.acknowledge(r, reject ? ACKNOWLEDGE.reject : ACKNOWLEDGE.accept);
            if (reject) rejects++;
          }
          counts.rejected += rejects;
          counts.accepted += batch.length - rejects;
          if (batch.length > rejects) options.acknowledged?.('accept', batch.length - rejects);
          if (rejects > 0) options.acknowledged?.('reject', rejects);
        },
        (error: Error) => {
          release(batch);
          failure ??= error;
        },
      )
      .finally(() => {
        inHand.delete(batch);
        waker.wake();
      });
  };
  const handle = async (batch: ShareRecord[]): Promise<void> => {
    let outcome: Awaited<ReturnType<typeof options.handle>>;
    // In hand from now: its locks are renewed while the handler waits (for a store that is down, say).
    inHand.set(batch, Math.min(...batch.map((r) => r.acquiredAt)));
    try {
      outcome = await options.handle(batch);
    } catch (error) {
      inHand.delete(batch);
      release(batch);
      throw error;
    }
    counts.handled += batch.length;
    settle(batch, outcome?.settled ?? Promise.resolve());
  };

  // Locks of records held past half the lock are renewed (the buffer counts as one batch in hand).
  let renewing = false;
  const renewTimer = setInterval(() => {
    if (renewing || !consumer.canRenew) return;
    const due = performance.now() - consumer.lockMs / 2;
    const records: ShareRecord[] = [];
    for (const [batch, since] of inHand) {
      if (since > due) continue;
      records.push(...batch);
      inHand.set(batch, performance.now());
    }
    for (const r of buffer) if (r.acquiredAt <= due) records.push(r);
    if (records.length === 0) return;
    renewing = true;
    logger.info({ event: 'share_locks_renewed', group: options.group, records: records.length }, 'renewing the locks of records still in hand');
    void consumer.renew(records).finally(() => {
      renewing = false;
    });
  }, 1000);

  const held = (): number => buffer.length + [...inHand.keys()].reduce((n, b) => n + b.length, 0);
  const maxHeld = (MAX_UNSETTLED_BATCHES + 1) * batchSize;

  try {
    while (!signal.aborted && failure === null) {
      if (consumer.failure !== null) throw consumer.failure;
      if (inHand.size >= MAX_UNSETTLED_BATCHES || held() >= maxHeld) {
        // Full: send what settled so far, and wait for more to settle.
        await consumer.flush();
        if (inHand.size >= MAX_UNSETTLED_BATCHES || held() >= maxHeld) await waker.wait(100);
        continue;
      }
      const records = await consumer.fetch(buffer.length > 0 ? idleFlushMs : 500, Math.min(batchSize, maxHeld - held()));
      const again = records.filter((r) => r.deliveryCount > 1);
      if (again.length > 0) {
        counts.redelivered += again.length;
        options.redelivered?.(again);
      }
      if (records.length > 0) buffer = buffer.length === 0 ? records : buffer.concat(records);
      while (buffer.length >= batchSize && !signal.aborted) {
        await handle(buffer.slice(0, batchSize));
        buffer = buffer.slice(batchSize);
      }
      if (records.length === 0 && buffer.length > 0 && !signal.aborted) {
        const batch = buffer;
        buffer = [];
        await handle(batch);
      }
    }
    if (failure !== null) throw failure;
  } finally {
    // Not handled: back to the group now rather than after the lock.
    release(buffer);
    buffer = [];
    const deadline = performance.now() + (options.drainTimeoutMs ?? 20_000);
    while (inHand.size > 0 && performance.now() < deadline) await waker.wait(Math.min(200, deadline - performance.now()));
    if (inHand.size > 0) {
      logger.warn(
        { event: 'share_drain_timeout', group: options.group, batches: inHand.size },
        'batches did not settle in time; releasing their records to other members (the store is idempotent per record)',
      );
      for (const batch of inHand.keys()) release(batch);
      inHand.clear();
    }
    clearInterval(renewTimer);
    await consumer.close();
  }
  return counts;
}
