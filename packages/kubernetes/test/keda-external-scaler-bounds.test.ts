import { execFile, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { LagSnapshot } from '@lagscale/core';
import { createLogger, PrometheusText } from '@lagscale/exporter';
import {
  DEFAULT_SCALER_LIMITS,
  EXTERNAL_SCALER_PROTO,
  type ExternalScalerServer,
  externalScalerMetrics,
  issueCertificate,
  type KeyPair,
  type ScalerSnapshotSource,
  startExternalScaler,
  TriggerStateStore,
} from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The external scaler's bounds, keying and authentication, on a real gRPC server on loopback. No
 * Kafka: the lag comes from hand-made snapshots (the real-broker tests are keda-external-scaler.test.ts).
 */

type Metadata = Record<string, string>;
interface Ref {
  name: string;
  namespace: string;
  scalerMetadata: Metadata;
}
type Unary<Req, Res> = (request: Req, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: Res) => void) => void;
interface Client extends grpc.Client {
  IsActive: Unary<Ref, { result: boolean }>;
  GetMetricSpec: Unary<Ref, { metricSpecs: { metricName: string; targetSize: number }[] }>;
  GetMetrics: Unary<{ scaledObjectRef: Ref; metricName: string }, { metricValues: { metricName: string; metricValue: number; metricValueFloat: number }[] }>;
  StreamIsActive(ref: Ref, metadata: grpc.Metadata): grpc.ClientReadableStream<{ result: boolean }>;
}

const definition = protoLoader.loadSync(EXTERNAL_SCALER_PROTO, { keepCase: true, longs: Number, defaults: true });
const ExternalScaler = (
  grpc.loadPackageDefinition(definition) as unknown as {
    externalscaler: { ExternalScaler: new (address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) => Client };
  }
).externalscaler.ExternalScaler;

const connect = (address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): Client =>
  new ExternalScaler(address, credentials, options);

/** A call's answer, or the error it ended with. */
function call<Req, Res>(client: Client, method: 'IsActive' | 'GetMetricSpec' | 'GetMetrics', request: Req, headers: Record<string, string> = {}): Promise<Res> {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  const unary = client[method].bind(client) as unknown as Unary<Req, Res>;
  return new Promise((resolve, reject) => unary(request, metadata, (error, response) => (error ? reject(error) : resolve(response))));
}
const failure = (promise: Promise<unknown>): Promise<grpc.ServiceError> =>
  promise.then(
    () => {
      throw new Error('the call succeeded; an error was expected');
    },
    (error: grpc.ServiceError) => error,
  );

/** A source whose snapshot the test sets. */
class FixedSource implements ScalerSnapshotSource {
  latest: LagSnapshot | null = null;
  on(): void {}
  off(): void {}
}

/** 3 partitions of `topic`, the group's committed offsets `committed`, log end 30 each, one member. */
function snapshot(time: number, group: string, topic: string, committed: readonly number[]): LagSnapshot {
  const partitions = committed.map((offset, partition) => ({
    topic,
    partition,
    committedOffset: offset,
    logEndOffset: 30,
    logStartOffset: 0,
    lag: 30 - offset,
  }));
  return {
    time,
    groups: [
      { group, state: 'Stable', members: 1, partitions, lag: partitions.reduce((sum, p) => sum + p.lag, 0), produceRate: 0, consumeRate: 0, timeLagSeconds: 0 },
    ],
    topics: [
      {
        topic,
        partitions: committed.map((_, partition) => ({ partition, leader: 1, logEndOffset: 30, logStartOffset: 0, lastStableOffset: 30, produceRate: 0 })),
      },
    ],
    errors: [],
    stats: { brokers: 1 },
  } as unknown as LagSnapshot;
}

const logger = createLogger('keda-bounds-test', 'silent');
const group = 'orders';
const topic = 'orders';
const ref = (name: string, metadata: Metadata = { consumerGroup: group, topic }, namespace = 'shop'): Ref => ({ name, namespace, scalerMetadata: metadata });

const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

describe('KEDA external scaler: what callers can make it hold', () => {
  const source = new FixedSource();
  let scaler: ExternalScalerServer;
  let client: Client;

  beforeAll(async () => {
    source.latest = snapshot(1_000, group, topic, [0, 0, 0]);
    scaler = await startExternalScaler({ source, brokers: ['kafka:9092'], logger });
    client = connect(scaler.address);
  });
  afterAll(async () => {
    client?.close();
    await scaler?.close();
  });

  it('refuses 4,000 IsActive calls with 20 KB names (INVALID_ARGUMENT, field and limit), holding nothing; its RSS stays flat over two rounds', async () => {
    const error = await failure(call(client, 'IsActive', ref(`${'n'.repeat(20_000)}-0`)));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toBe("scaledObjectRef.name: 20002 characters, more than the 253 Kubernetes allows for a ScaledObject's name");
    const namespaceError = await failure(call(client, 'IsActive', ref('ok', undefined, 'n'.repeat(64))));
    expect(namespaceError.details).toBe('scaledObjectRef.namespace: 64 characters, more than the 63 Kubernetes allows for a namespace');

    // The scaler in a process of its own: its RSS is what it holds, not this test's garbage.
    const child = fork(fileURLToPath(new URL('./fixtures/keda-scaler-process.mjs', import.meta.url)), [], { execArgv: ['--expose-gc'], stdio: 'inherit' });
    const replies: { address?: string; memory?: NodeJS.MemoryUsage; stateEntries?: number }[] = [];
    const waiters: (() => void)[] = [];
    child.on('message', (message: (typeof replies)[number]) => {
      replies.push(message);
      waiters.shift()?.();
    });
    const next = () =>
      new Promise<(typeof replies)[number]>((resolve) => {
        const take = () => resolve(replies.shift() as (typeof replies)[number]);
        if (replies.length > 0) take();
        else waiters.push(take);
      });
    const measure = async () => {
      child.send('measure');
      return (await next()) as { memory: NodeJS.MemoryUsage; stateEntries: number };
    };
    const { address } = (await next()) as { address: string };
    const remote = connect(address);
    try {
      const round = async (from: number): Promise<void> => {
        for (let start = from; start < from + 4000; start += 100) {
          const errors = await Promise.all(
            Array.from({ length: 100 }, (_, k) =>
              failure(call(remote, 'IsActive', ref(`${'n'.repeat(20_000)}-${start + k}`, { consumerGroup: `${group}-${start + k}` }))),
            ),
          );
          for (const refusal of errors) expect(refusal.code).toBe(grpc.status.INVALID_ARGUMENT);
        }
      };
      // A first valid call, so what every call needs (TLS-free channel, handlers) is in place before measuring.
      await failure(call(remote, 'IsActive', ref('warm-up')));
      const before = await measure();
      await round(0);
      const afterFirst = await measure();
      await round(4000);
      const afterSecond = await measure();
      process.stderr.write(
        `[keda-bounds] scaler process, 2 x 4,000 IsActive with 20 KB names: RSS ${mb(before.memory.rss)} -> ${mb(afterFirst.memory.rss)} -> ${mb(afterSecond.memory.rss)} MB, ` +
          `heap used ${mb(before.memory.heapUsed)} -> ${mb(afterFirst.memory.heapUsed)} -> ${mb(afterSecond.memory.heapUsed)} MB, states held ${afterSecond.stateEntries}\n`,
      );
      // The warm-up's state (no lag: UNAVAILABLE, but the ScaledObject is held) and nothing more.
      expect(afterSecond.stateEntries).toBe(1);
      // Unbounded, each round kept its 4,000 entries: 80 MB of names alone; RSS 183 -> 418 -> 648 MB in the finding.
      // Measured here before the bounds: heap used 20 -> 98 -> 176 MB, RSS 147 -> 239 -> 302 MB.
      expect(afterFirst.memory.heapUsed - before.memory.heapUsed).toBeLessThan(8 * 1024 * 1024);
      expect(afterSecond.memory.heapUsed - before.memory.heapUsed).toBeLessThan(8 * 1024 * 1024);
      // The first round grows RSS once (buffers for 100 calls in flight), the second no further.
      expect(afterSecond.memory.rss - afterFirst.memory.rss).toBeLessThan(24 * 1024 * 1024);
    } finally {
      remote.close();
      child.send('stop');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });

  it('holds at most maxEntries states for 4,000 distinct valid ScaledObjects, dropping the least recently used', async () => {
    const start = scaler.counters.evictions.get('size') ?? 0;
    let most = 0;
    for (let batch = 0; batch < 40; batch++) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => call(client, 'IsActive', ref(`consumer-${batch * 100 + k}`))));
      most = Math.max(most, scaler.stateEntries);
    }
    process.stderr.write(`[keda-bounds] 4,000 distinct ScaledObjects: at most ${most} states held, ${scaler.counters.evictions.get('size')} evicted (size)\n`);
    expect(DEFAULT_SCALER_LIMITS.maxEntries).toBe(1000);
    expect(most).toBe(1000);
    expect(scaler.stateEntries).toBe(1000);
    expect((scaler.counters.evictions.get('size') ?? 0) - start).toBe(3000);
    const metrics = new PrometheusText();
    externalScalerMetrics(scaler)(metrics);
    expect(metrics.toString()).toContain('lagscale_keda_scaler_state_entries 1000\n');
    expect(metrics.toString()).toContain('lagscale_keda_scaler_state_entries_max 1000\n');
    expect(metrics.toString()).toMatch(/lagscale_keda_scaler_state_evictions_total\{reason="size"\} 3\d{3}\n/);
  });

  it('refuses metadata beyond its bounds, naming the key and the limit', async () => {
    const refusal = async (metadata: Metadata) => (await failure(call(client, 'GetMetricSpec', ref('bounded', metadata)))).details;
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`key${i}`, 'v']));
    expect(await refusal(many)).toBe('scalerMetadata: 65 keys, more than the 64 allowed');
    expect(await refusal({ consumerGroup: group, [`k${'e'.repeat(300)}`]: '1' })).toBe(
      `scalerMetadata: key "k${'e'.repeat(39)}..." has 301 characters, more than the 253 allowed`,
    );
    expect(await refusal({ consumerGroup: 'g'.repeat(5000) })).toBe('scalerMetadata.consumerGroup: value of 5000 characters, more than the 4096 allowed');
    // Beyond what the limits allow at all: gRPC refuses the message before it is read.
    const huge = await failure(
      call(client, 'GetMetricSpec', ref('huge', Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v'.repeat(20_000)])))),
    );
    expect(huge.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('answers INVALID_ARGUMENT, naming the policies, for policy constructor, toString and __proto__', async () => {
    for (const policy of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      for (const method of ['GetMetricSpec', 'IsActive'] as const) {
        const error = await failure(call(client, method, ref('proto', { consumerGroup: group, policy })));
        expect(error.code, `${method} policy ${policy}`).toBe(grpc.status.INVALID_ARGUMENT);
        expect(error.details).toBe(`scalerMetadata.policy: unknown policy "${policy}"; use one of rate, threshold`);
      }
    }
    const asKey = await failure(call(client, 'GetMetricSpec', ref('proto', { consumerGroup: group, constructor: '1' })));
    expect(asKey.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(asKey.details).toMatch(/scalerMetadata.*constructor/);
    const asName = await failure(call(client, 'GetMetricSpec', ref('proto', { consumerGroup: group, name: 'constructor' })));
    expect(asName.code).toBe(grpc.status.INVALID_ARGUMENT);
  });
});

describe('KEDA external scaler: state per ScaledObject and metadata fingerprint', () => {
  it("a caller reusing a ScaledObject's namespace/name with other metadata gets its own state; the ScaledObject's decisions do not change", async () => {
    const source = new FixedSource();
    const scaler = await startExternalScaler({ source, brokers: ['kafka:9092'], logger });
    const client = connect(scaler.address);
    try {
      // excludePersistentLag: an offset that has not moved since the previous cycle is left out of
      // the metric, so the answer depends on the state the previous cycle left.
      const real = ref('orders-consumer', { consumerGroup: group, topic, lagThreshold: '10', excludePersistentLag: 'true' });
      const other = ref('orders-consumer', { consumerGroup: group, topic, lagThreshold: '10', excludePersistentLag: 'true', activationLagThreshold: '5' });
      const metric = async (asked: Ref) =>
        (await call<unknown, { metricValues: { metricValue: number }[] }>(client, 'GetMetrics', { scaledObjectRef: asked, metricName: '' })).metricValues[0]
          ?.metricValue;
      const decisions: (number | undefined)[] = [];
      for (let cycle = 1; cycle <= 4; cycle++) {
        source.latest = snapshot(cycle * 1000, group, topic, [0, 0, 0]);
        decisions.push(await metric(real));
        // Between the ScaledObject's cycles, someone else asks under its name with other metadata.
        expect(await metric(other)).toBeGreaterThanOrEqual(0);
      }
      // First sight counts the lag (90, capped at 3 partitions x 10); then the stuck offsets are left out.
      expect(decisions).toEqual([30, 0, 0, 0]);
      expect(scaler.stateEntries).toBe(2);
    } finally {
      client.close();
      await scaler.close();
    }
  });

  it('drops states unused for idleSeconds (the clock moved by hand)', async () => {
    let now = 0;
    const source = new FixedSource();
    source.latest = snapshot(1, group, topic, [0, 0, 0]);
    const scaler = await startExternalScaler({ source, brokers: ['kafka:9092'], logger, limits: { idleSeconds: 60, maxEntries: 50 }, now: () => now });
    const client = connect(scaler.address);
    try {
      for (let i = 0; i < 20; i++) await call(client, 'IsActive', ref(`idle-${i}`));
      expect(scaler.stateEntries).toBe(20);
      now = 30_000;
      await call(client, 'IsActive', ref('idle-0'));
      now = 61_000;
      await call(client, 'IsActive', ref('fresh'));
      // idle-0 was used at 30 s: kept; the other 19 were last used at 0 s: gone.
      expect(scaler.stateEntries).toBe(2);
      expect(scaler.counters.evictions.get('idle')).toBe(19);
      expect(scaler.limits).toMatchObject({ idleSeconds: 60, maxEntries: 50, maxMetadataKeys: 64 });
    } finally {
      client.close();
      await scaler.close();
    }
  });

  it('the store alone: LRU order, size and idle bounds', () => {
    let now = 0;
    const store = new TriggerStateStore<number>({ maxEntries: 3, idleMs: 100, now: () => now });
    for (const key of ['a', 'b', 'c']) store.acquire(key, () => 1);
    store.acquire('a', () => 2); // a is now the most recently used
    store.acquire('d', () => 1); // evicts b
    expect(['a', 'b', 'c', 'd'].filter((k) => store.has(k))).toEqual(['a', 'c', 'd']);
    expect(store.acquire('a', () => 9)).toBe(1);
    now = 101;
    store.sweep();
    expect(store.size).toBe(0);
    expect(Object.fromEntries(store.evictions)).toEqual({ size: 1, idle: 3 });
    expect(() => new TriggerStateStore({ maxEntries: 0, idleMs: 1 })).toThrow(/maxEntries/);
  });
});

const run = promisify(execFile);

async function makeCa(dir: string): Promise<KeyPair> {
  await run(
    'openssl',
    [
      'req',
      '-x509',
      ...['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=keda-scaler-test-ca'],
      ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyCertSign,cRLSign'],
    ],
    { cwd: dir },
  );
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

describe('KEDA external scaler: authentication', () => {
  const source = new FixedSource();
  const token = 'a3f1c9e07b2d4e6f8a0b1c2d3e4f5a6b';
  const spec = ref('orders-consumer', { consumerGroup: group, topic, lagThreshold: '10' });

  it('with a token: none or a wrong one -> UNAUTHENTICATED, holding nothing; the bearer header or scalerTokenFromEnv -> OK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keda-scaler-token-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${token}\n`);
    const scaler = await startExternalScaler({ source, brokers: ['kafka:9092'], logger, auth: { tokenFile } });
    const client = connect(scaler.address);
    try {
      const none = await failure(call(client, 'GetMetricSpec', spec));
      expect(none.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(none.details).toMatch(/^a token is required: gRPC metadata "authorization: Bearer <token>", or the trigger metadata scalerTokenFromEnv/);
      for (const header of [`Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Basic ${token}`, token]) {
        const wrong = await failure(call(client, 'IsActive', ref(`wrong-${header.length}`, spec.scalerMetadata), { authorization: header }));
        expect(wrong.code, header).toBe(grpc.status.UNAUTHENTICATED);
      }
      expect(scaler.stateEntries).toBe(0);
      expect(scaler.counters.unauthenticated.get('IsActive')).toBe(4);
      expect(scaler.authentication).toEqual({ token: true, clientCertificate: false });
      const ok = await call<Ref, { metricSpecs: { metricName: string }[] }>(client, 'GetMetricSpec', spec, { authorization: `Bearer ${token}` });
      expect(ok.metricSpecs[0]?.metricName).toBe('lagscale-threshold-orders-orders');
      // KEDA sends no headers: the token in the trigger metadata (KEDA resolves scalerTokenFromEnv from the target's env).
      const viaMetadata = ref('orders-consumer', { ...spec.scalerMetadata, scalerTokenFromEnv: token });
      const same = await call<Ref, { metricSpecs: { metricName: string }[] }>(client, 'GetMetricSpec', viaMetadata);
      expect(same.metricSpecs[0]?.metricName).toBe('lagscale-threshold-orders-orders');
      const wrongInMetadata = await failure(call(client, 'GetMetricSpec', ref('x', { ...spec.scalerMetadata, scalerTokenFromEnv: 'nope-nope-nope-nope' })));
      expect(wrongInMetadata.code).toBe(grpc.status.UNAUTHENTICATED);
      // The token is not part of the state's key: rotating it keeps the ScaledObject's state.
      source.latest = snapshot(5, group, topic, [0, 0, 0]);
      await call(client, 'IsActive', spec, { authorization: `Bearer ${token}` });
      await call(client, 'IsActive', viaMetadata);
      expect(scaler.stateEntries).toBe(1);
    } finally {
      client.close();
      await scaler.close();
    }
  });

  it('refuses to start with an unusable token (short, or an empty file): no check is worse than no start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keda-scaler-token-'));
    writeFileSync(join(dir, 'empty'), '\n');
    await expect(startExternalScaler({ source, brokers: ['kafka:9092'], logger, auth: { tokens: ['short'] } })).rejects.toThrow(/at least 16 characters/);
    await expect(startExternalScaler({ source, brokers: ['kafka:9092'], logger, auth: { tokenFile: join(dir, 'empty') } })).rejects.toThrow(/no token in it/);
    await expect(startExternalScaler({ source, brokers: ['kafka:9092'], logger, auth: { tokenFile: join(dir, 'missing') } })).rejects.toThrow(/cannot read it/);
  });

  describe('with client certificates (TLS)', () => {
    let dir: string;
    let ca: KeyPair;
    let server: KeyPair;
    let client: KeyPair;
    let stranger: KeyPair;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'keda-scaler-tls-'));
      ca = await makeCa(dir);
      const otherDir = mkdtempSync(join(tmpdir(), 'keda-scaler-tls-other-'));
      const otherCa = await makeCa(otherDir);
      [server, client, stranger] = await Promise.all([
        issueCertificate(dir, ca, 'server', '/CN=lagscale-keda-scaler', 'serverAuth', ['DNS:localhost', 'IP:127.0.0.1']),
        issueCertificate(dir, ca, 'keda', '/CN=keda-operator', 'clientAuth'),
        issueCertificate(otherDir, otherCa, 'stranger', '/CN=stranger', 'clientAuth'),
      ]);
    });

    const pem = (file: string) => readFileSync(file);
    const tlsClient = (address: string, pair?: KeyPair) =>
      connect(address, grpc.credentials.createSsl(pem(ca.cert), pair ? pem(pair.key) : null, pair ? pem(pair.cert) : null), {
        // The server's certificate names localhost; the address is 127.0.0.1.
        'grpc.ssl_target_name_override': 'localhost',
      });

    it('without a certificate, or with one another CA signed -> UNAUTHENTICATED; with one the CA signed -> OK; with a token too, both are needed', async () => {
      const tls = { cert: readFileSync(server.cert, 'utf8'), key: readFileSync(server.key, 'utf8'), ca: readFileSync(ca.cert, 'utf8') };
      const scaler = await startExternalScaler({ source, brokers: ['kafka:9092'], logger, tls, auth: {} });
      const both = await startExternalScaler({ source, brokers: ['kafka:9092'], logger, tls, auth: { tokens: [token] } });
      const clients: Client[] = [];
      const open = (address: string, pair?: KeyPair) => {
        const opened = tlsClient(address, pair);
        clients.push(opened);
        return opened;
      };
      try {
        for (const [who, pair] of [
          ['no certificate', undefined],
          ['a certificate of another CA', stranger],
        ] as const) {
          const error = await failure(call(open(scaler.address, pair), 'GetMetricSpec', spec));
          expect(error.code, who).toBe(grpc.status.UNAUTHENTICATED);
          expect(error.details, who).toMatch(/^a client certificate signed by the scaler's CA is required \(KEDA: a TriggerAuthentication with tlsClientCert/);
        }
        const ok = await call<Ref, { metricSpecs: { metricName: string }[] }>(open(scaler.address, client), 'GetMetricSpec', spec);
        expect(ok.metricSpecs[0]?.metricName).toBe('lagscale-threshold-orders-orders');
        expect(scaler.authentication).toEqual({ token: false, clientCertificate: true });

        const certOnly = await failure(call(open(both.address, client), 'GetMetricSpec', spec));
        expect(certOnly.code).toBe(grpc.status.UNAUTHENTICATED);
        const tokenOnly = await failure(call(open(both.address), 'GetMetricSpec', spec, { authorization: `Bearer ${token}` }));
        expect(tokenOnly.code).toBe(grpc.status.UNAUTHENTICATED);
        await call(open(both.address, client), 'GetMetricSpec', spec, { authorization: `Bearer ${token}` });
        expect(both.counters.unauthenticated.get('GetMetricSpec')).toBe(2);
      } finally {
        for (const opened of clients) opened.close();
        await scaler.close();
        await both.close();
      }
    });
  });
});
