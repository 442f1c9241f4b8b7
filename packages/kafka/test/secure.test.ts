import { KafkaCluster, type KafkaConnectionOptions, OffsetCollector } from '@lagscale/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitOffsets, createTopic, produce } from '../../../test-support/kafka.js';

/** A broker with SASL_SSL (SCRAM-SHA-256/512, PLAIN) and SSL (client certificate required) listeners. */
describe('secured cluster', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    cluster = await KafkaCluster.start({ nodes: 1, secure: true });
    await createTopic(cluster.brokers, 'secured', 2);
    await produce(cluster.brokers, { topic: 'secured', perPartition: { 0: 20, 1: 10 } });
    await commitOffsets(cluster.brokers, 'secure-group', 'secured', { 0: 5, 1: 10 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  async function lagOver(connection: KafkaConnectionOptions): Promise<number | undefined> {
    const collector = new OffsetCollector({ connection, groups: ['secure-group'] });
    try {
      const observation = await collector.collect();
      const offsets = observation.groups[0]?.offsets ?? [];
      const ends = new Map(observation.topics.flatMap((t) => t.partitions.map((p) => [p.partition, p.logEndOffset ?? 0])));
      return offsets.reduce((sum, o) => sum + ((ends.get(o.partition) ?? 0) - o.offset), 0);
    } finally {
      await collector.close();
    }
  }

  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'PLAIN'] as const) {
    it(`collects over SASL_SSL with ${mechanism}`, async () => {
      const s = cluster.secure;
      expect(s).not.toBeNull();
      if (!s) return;
      const lag = await lagOver({
        brokers: s.saslSslBrokers,
        tls: { ca: s.certificates.caCert },
        sasl: { mechanism, username: s.username, password: s.password },
      });
      expect(lag).toBe(15);
    });
  }

  it('collects over SSL with a client certificate', async () => {
    const s = cluster.secure;
    if (!s) throw new Error('no secure listeners');
    const lag = await lagOver({ brokers: s.sslBrokers, tls: { ca: s.certificates.caCert, cert: s.certificates.clientCert, key: s.certificates.clientKey } });
    expect(lag).toBe(15);
  });

  it('fails fast with the broker and the cause on a wrong password', async () => {
    const s = cluster.secure;
    if (!s) throw new Error('no secure listeners');
    const started = Date.now();
    const error = await lagOver({
      brokers: s.saslSslBrokers,
      tls: { ca: s.certificates.caCert },
      sasl: { mechanism: 'SCRAM-SHA-512', username: s.username, password: 'wrong' },
      connectTimeoutMs: 3000,
      requestTimeoutMs: 3000,
    }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain(s.saslSslBrokers[0]);
    expect(message).toMatch(/auth/i);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses a broker certificate it cannot verify, saying so', async () => {
    const s = cluster.secure;
    if (!s) throw new Error('no secure listeners');
    const error = await lagOver({
      brokers: s.saslSslBrokers,
      tls: {},
      sasl: { mechanism: 'SCRAM-SHA-256', username: s.username, password: s.password },
      connectTimeoutMs: 3000,
    }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/certificate/i);
    expect((error as Error).message).toContain(s.saslSslBrokers[0]);
  });

  it('fails clearly when the SSL listener wants a client certificate and gets none', async () => {
    const s = cluster.secure;
    if (!s) throw new Error('no secure listeners');
    const error = await lagOver({ brokers: s.sslBrokers, tls: { ca: s.certificates.caCert }, connectTimeoutMs: 3000, requestTimeoutMs: 3000 }).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(s.sslBrokers[0]);
  });
});
