/**
 * Request messages of sample orders (`SampleOrders`, the example rule set's records) and, on
 * request, malformed ones (truncated JSON) for the DLQ, plus a fast producer for them. Used by the
 * worker tests and by bench/validator-throughput.
 */
import { readFileSync } from 'node:fs';
import { encodeRequest, type OutgoingMessage, type SampleOrderOptions, SampleOrders } from '@lagscale/validator';
import { type MessageToProduce, Producer } from '@platformatic/kafka';

/** The example rule set these records are checked against (`examples/orders.ruleset.json`). */
export const ordersRuleSet = JSON.parse(readFileSync(new URL('../../examples/orders.ruleset.json', import.meta.url), 'utf8')) as {
  name: string;
  version: number;
};

/** See `SampleOrders`: seed, share of invalid records, repeated order ids. */
export type OrderRecordOptions = SampleOrderOptions;

export interface GeneratedRecord {
  /** The message as it goes to `validation.requests`. */
  readonly message: OutgoingMessage;
  /** Truncated JSON: the worker must dead-letter it. */
  readonly malformed: boolean;
  /** Broke a rule of severity error on purpose (the record is well-formed). */
  readonly invalid: boolean;
}

export class OrderRecords {
  readonly #orders: SampleOrders;

  constructor(options: OrderRecordOptions = {}) {
    this.#orders = new SampleOrders(options);
  }

  /** The request message of record `recordNumber` (1-based) of `jobId`. */
  request(jobId: string, ruleSet: string, recordNumber: number, malformed: boolean): GeneratedRecord {
    const { record, invalid } = this.order(recordNumber);
    const json = JSON.stringify(record);
    // Cut inside the items array: JSON.parse fails and the worker names it truncated_json.
    const value = malformed ? json.slice(0, json.indexOf('"items":[') + 10) : json;
    return { message: encodeRequest({ jobId, recordNumber, ruleSet, value }), malformed, invalid: invalid && !malformed };
  }

  /** One order; `invalid` when a mistake that breaks an error rule was put in. */
  order(n: number): { record: Record<string, unknown>; invalid: boolean } {
    return this.#orders.order(n);
  }
}

/** Producer settings for filling `validation.requests` fast without duplicates: idempotent, large batches. */
export function requestProducer(brokers: readonly string[]): Producer {
  return new Producer({ clientId: 'lagscale-test-orders', bootstrapBrokers: [...brokers], idempotent: true, acks: -1, retries: 5 });
}

/**
 * Produces records `from`..`to` of a job, `batch` messages per request (one request at a time, so
 * the idempotent producer keeps each partition in order). Returns the record numbers made
 * malformed and those made invalid.
 */
export async function produceOrders(
  client: Producer,
  options: {
    readonly topic: string;
    readonly jobId: string;
    readonly ruleSet: string;
    readonly from: number;
    readonly to: number;
    readonly isMalformed: (recordNumber: number) => boolean;
    readonly records?: OrderRecords;
    readonly batch?: number;
  },
): Promise<{ malformed: number[]; invalid: number[] }> {
  const records = options.records ?? new OrderRecords();
  const batch = options.batch ?? 5000;
  const malformed: number[] = [];
  const invalid: number[] = [];
  for (let start = options.from; start <= options.to; start += batch) {
    const messages: MessageToProduce<Buffer, Buffer, Buffer, Buffer>[] = [];
    for (let n = start; n <= Math.min(options.to, start + batch - 1); n++) {
      const generated = records.request(options.jobId, options.ruleSet, n, options.isMalformed(n));
      if (generated.malformed) malformed.push(n);
      if (generated.invalid) invalid.push(n);
      const { key, value, headers } = generated.message;
      messages.push({ topic: options.topic, key, value, headers: new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k), v])) });
    }
    await client.send({ messages });
  }
  return { malformed, invalid };
}

/** Records 1..`total` of a job on the orders rule set, produced to `topic` by a producer of their own. */
export async function produceJob(
  brokers: readonly string[],
  options: { readonly topic: string; readonly jobId: string; readonly total: number; readonly isMalformed: (n: number) => boolean; readonly seed: number },
): Promise<{ malformed: number[]; invalid: number[] }> {
  const client = requestProducer(brokers);
  try {
    return await produceOrders(client, {
      topic: options.topic,
      jobId: options.jobId,
      ruleSet: ordersRuleSet.name,
      from: 1,
      to: options.total,
      isMalformed: options.isMalformed,
      records: new OrderRecords({ seed: options.seed }),
    });
  } finally {
    await client.close();
  }
}
