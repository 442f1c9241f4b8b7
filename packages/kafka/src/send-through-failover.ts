import { setTimeout as sleep } from 'node:timers/promises';
import { type MessageToProduce, murmur2, type ProduceResult, type Producer } from '@platformatic/kafka';

/**
 * `@platformatic/kafka` 1.x retries a produce to a partition leader that died (connection refused)
 * against the leader it had looked up before the first try, so every retry fails the same way until
 * they run out, even after the cluster elected a new leader: a broker crash fails every send that
 * had a partition on it, while `NOT_LEADER_OR_FOLLOWER` answers are retried with fresh metadata.
 * And a send to several leaders fails as a whole when one of them fails, though the others wrote
 * their records. So the project's producers send through this: on a retriable failure it forgets
 * the metadata and sends again only the records of the partitions that were not acknowledged
 * (those that were are in the error's `produced` offsets; the idempotent producer's sequence
 * numbers make a resend of a record the broker did write a no-op), until `timeoutMs`.
 *
 * Records are pinned to their partition first, as the client's default partitioner would place them
 * (murmur2 of the key bytes; records without a key round-robin here), so a resend goes to the same
 * partition. Keys must be bytes or strings (UTF-8), as the project's producers send them.
 */
export interface SendThroughFailoverOptions {
  /** Give up after this long. Default 60 s: a crashed broker is fenced after its session timeout (9 s by default). */
  readonly timeoutMs?: number;
  /** Between sends. Default 500 ms. */
  readonly retryDelayMs?: number;
  /** Told about each failed attempt (for a log line). */
  readonly onRetry?: (attempt: number, error: Error, remaining: number) => void;
}

/**
 * The client's own retries for producers that send through `sendThroughFailover`: a few quick
 * ones (a leader election answered NOT_LEADER_OR_FOLLOWER is retried by the client with fresh
 * metadata), then `sendThroughFailover` takes over with fresh metadata for as long as it allows,
 * instead of the client retrying a dead leader for PRODUCER_RETRIES' 20 s.
 */
export const FAILOVER_PRODUCER_RETRIES = { retries: 4, retryDelay: 250 } as const;

let roundRobin = 0;

type AnyProducer = Producer<Buffer, Buffer, Buffer, Buffer> | Producer<string, string, string, string>;
type Message<P> = P extends Producer<infer K, infer V, infer HK, infer HV> ? MessageToProduce<K, V, HK, HV> : never;

function keyBytes(key: unknown): Buffer | null {
  if (Buffer.isBuffer(key)) return key;
  if (typeof key === 'string') return Buffer.from(key, 'utf8');
  return null;
}

/** Whether any error in the chain says it must not be retried (a bad record, authorization, a closed client). */
function retriable(error: unknown): boolean {
  const chain = error as { findBy?: (key: string, value: unknown) => unknown };
  return typeof chain.findBy !== 'function' || !chain.findBy('canRetry', false);
}

export async function sendThroughFailover<P extends AnyProducer>(
  producer: P,
  messages: readonly Message<P>[],
  options: SendThroughFailoverOptions = {},
): Promise<ProduceResult> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const delay = options.retryDelayMs ?? 500;
  // Pinned: a partition number, modulo the partition count (the client takes it modulo too).
  let remaining = messages.map((m) => {
    if (typeof m.partition === 'number') return m;
    const key = keyBytes(m.key);
    return { ...m, partition: key === null ? roundRobin++ & 0x7fffffff : murmur2(key) >>> 0 };
  }) as Message<P>[];
  const offsets: NonNullable<ProduceResult['offsets']> = [];
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await (producer as Producer<unknown, unknown, unknown, unknown>).send({
        messages: remaining as MessageToProduce<unknown, unknown, unknown, unknown>[],
      });
      offsets.push(...(result.offsets ?? []));
      return { ...result, offsets };
    } catch (error) {
      if (!retriable(error) || Date.now() + delay >= deadline) throw error;
      const done = new Set(((error as { produced?: ProduceResult }).produced?.offsets ?? []).map((o) => `${o.topic}\u0000${o.partition}`));
      for (const o of (error as { produced?: ProduceResult }).produced?.offsets ?? []) offsets.push(o);
      if (done.size > 0) {
        const metadata = producer.currentMetadata;
        remaining = remaining.filter((m) => {
          const count = metadata?.topics.get(m.topic)?.partitionsCount;
          return count === undefined || !done.has(`${m.topic}\u0000${(m.partition as number) % count}`);
        });
      }
      options.onRetry?.(attempt, error as Error, remaining.length);
      if (remaining.length === 0) return { offsets };
      producer.clearMetadata();
      await sleep(delay);
    }
  }
}
