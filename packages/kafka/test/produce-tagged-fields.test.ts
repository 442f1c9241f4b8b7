import { clientReadTaggedFields, PRODUCER_RETRIES } from '@lagscale/kafka';
import { Admin, Producer, produceV11, Reader, ResponseError } from '@platformatic/kafka';
import { describe, expect, inject, it } from 'vitest';

const brokers = inject('kafkaBrokers');

const uvarint = (value: number): number[] => {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
};
const int = (bytes: number, value: number): number[] => {
  const b = Buffer.alloc(bytes);
  if (bytes === 2) b.writeInt16BE(value);
  else if (bytes === 4) b.writeInt32BE(value);
  else b.writeBigInt64BE(BigInt(value));
  return [...b];
};

/**
 * A Produce v11 response body as a broker sends it when a partition's leader moved: error
 * NOT_LEADER_OR_FOLLOWER (6) with the new leader in the partition's tagged fields (tag 0,
 * CurrentLeader), and the node endpoints in the response's tagged fields.
 */
function notLeaderResponse(partitions = 3): Buffer {
  const currentLeader = [...int(4, 2), ...int(4, 7), ...uvarint(0)];
  const partition = (index: number) => [
    ...int(4, index),
    ...int(2, 6), // NOT_LEADER_OR_FOLLOWER
    ...int(8, -1), // baseOffset
    ...int(8, -1), // logAppendTimeMs
    ...int(8, -1), // logStartOffset
    ...uvarint(1), // recordErrors: empty
    ...uvarint(0), // errorMessage: null
    ...uvarint(1), // one tagged field
    ...uvarint(0), // tag 0: CurrentLeader
    ...uvarint(currentLeader.length),
    ...currentLeader,
  ];
  const name = Buffer.from('orders');
  const answers = Array.from({ length: partitions }, (_, i) => partition(i)).flat();
  const topic = [...uvarint(name.length + 1), ...name, ...uvarint(partitions + 1), ...answers, ...uvarint(0)];
  const endpoint = [...int(4, 2), ...uvarint(10), ...Buffer.from('127.0.0.1'), ...int(4, 9092), ...uvarint(0), ...uvarint(0)];
  const nodeEndpoints = [...uvarint(2), ...endpoint];
  return Buffer.from([...uvarint(2), ...topic, ...int(4, 0), ...uvarint(1), ...uvarint(0), ...uvarint(nodeEndpoints.length), ...nodeEndpoints]);
}

describe("Produce responses with tagged fields (a partition's leader moved)", () => {
  it('are read as the retriable NOT_LEADER_OR_FOLLOWER they are, where the client alone misreads them', () => {
    const parse = () => produceV11.parseResponse(1, 0, 11, Reader.from(notLeaderResponse()));
    let error: unknown;
    try {
      parse();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ResponseError);
    const causes = (error as ResponseError).errors as unknown as { apiCode?: number }[];
    expect(causes.map((cause) => cause.apiCode)).toEqual([6, 6, 6]);

    // The client's own tagged-field reading takes the field count for a byte count: it reads on
    // into the tagged field and fails (or invents values), as every produce during a leader change did.
    const fixed = Reader.prototype.readTaggedFields;
    Reader.prototype.readTaggedFields = clientReadTaggedFields as typeof fixed;
    try {
      let misread: unknown;
      try {
        parse();
      } catch (e) {
        misread = e;
      }
      expect(misread).not.toBeInstanceOf(ResponseError);
      expect(String(misread)).toMatch(/out of bounds/i);
    } finally {
      Reader.prototype.readTaggedFields = fixed;
    }
  });

  it('let a producer write to topics whose leaders are still being elected', async () => {
    // The case: many partitions created at once, produced to at once.
    const admin = new Admin({ clientId: 'lagscale-test-admin', bootstrapBrokers: [...brokers] });
    const run = Date.now().toString(36);
    const topics = Array.from({ length: 10 }, (_, i) => `leaders-${run}-${i}`);
    try {
      await admin.createTopics({ topics, partitions: 100, replicas: 1 });
    } finally {
      await admin.close();
    }
    const producer = new Producer({ clientId: 'lagscale-test-producer', bootstrapBrokers: [...brokers], idempotent: true, acks: -1, ...PRODUCER_RETRIES });
    try {
      const messages = Array.from({ length: 100 }, (_, partition) => ({
        topic: topics[0] as string,
        partition,
        key: Buffer.from(String(partition)),
        value: Buffer.from('x'),
      }));
      const result = await producer.send({ messages }).catch((error: unknown) => {
        const flatten = (e: unknown, depth = 0): string =>
          `${' '.repeat(depth)}${(e as Error)?.name}: ${(e as Error)?.message} ${JSON.stringify((e as { apiCode?: unknown; code?: unknown })?.apiCode ?? (e as { code?: unknown })?.code)}\n${(
            (e as { errors?: unknown[] }).errors ?? []
          )
            .slice(0, 3)
            .map((inner) => flatten(inner, depth + 2))
            .join('')}`;
        throw new Error(flatten(error));
      });
      expect(result.offsets?.length ?? 0).toBeGreaterThan(0);
    } finally {
      await producer.close();
    }
  });
});
