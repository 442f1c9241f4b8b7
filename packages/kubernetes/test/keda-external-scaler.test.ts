import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import { type ExternalScalerServer, startExternalScaler } from '@lagscale/kubernetes';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { type KedaClient as Client, call, connectKedaClient as connect } from '../../../test-support/keda-client.js';

const brokers = inject('kafkaBrokers');

type Metadata = Record<string, string>;

describe('KEDA external scaler (gRPC) on a real broker', () => {
  const suffix = Date.now().toString(36);
  const topic = `keda-orders-${suffix}`;
  const behind = `keda-behind-${suffix}`;
  const caughtUp = `keda-caught-up-${suffix}`;
  let monitor: LagMonitor;
  let scaler: ExternalScalerServer;
  let client: Client;
  const ref = (metadata: Metadata, name = 'orders-consumer') => ({ name, namespace: 'shop', scalerMetadata: metadata });

  beforeAll(async () => {
    await createTopic([...brokers], topic, 3);
    await produce([...brokers], { topic, perPartition: { 0: 30, 1: 30, 2: 30 } });
    await commitOffsets([...brokers], behind, topic, { 0: 0, 1: 0, 2: 0 });
    await commitOffsets([...brokers], caughtUp, topic, { 0: 30, 1: 30, 2: 30 });
    monitor = new LagMonitor({ connection: { brokers: [...brokers] }, groups: [behind, caughtUp], intervalSeconds: 0.5 });
    monitor.start();
    await waitFor('a first lag snapshot', async () => monitor.latest);
    scaler = await startExternalScaler({ source: monitor, brokers: [...brokers], logger: createLogger('keda-test', 'error') });
    client = connect(scaler.address);
  });

  afterAll(async () => {
    client?.close();
    await scaler?.close();
    await monitor?.stop();
  });

  it("answers a threshold trigger with KEDA's own Kafka lag metric and target", async () => {
    const metadata = { consumerGroup: behind, topic, lagThreshold: '10' };
    const spec = await call(client.GetMetricSpec.bind(client), ref(metadata));
    expect(spec.metricSpecs).toEqual([{ metricName: `lagscale-threshold-${behind}-${topic}`, targetSize: 10, targetSizeFloat: 10 }]);
    const metrics = await call(client.GetMetrics.bind(client), { scaledObjectRef: ref(metadata), metricName: spec.metricSpecs[0]?.metricName });
    // Lag 90 over 3 partitions: KEDA caps the metric at partitions × lagThreshold (no idle
    // consumers), so the HPA computes ceil(30 / 10) = 3 replicas, one per partition.
    expect(metrics.metricValues).toEqual([{ metricName: `lagscale-threshold-${behind}-${topic}`, metricValue: 30, metricValueFloat: 30 }]);
    expect((await call(client.IsActive.bind(client), ref(metadata))).result).toBe(true);
    // With idle consumers allowed the metric is the whole lag.
    const uncapped = await call(client.GetMetrics.bind(client), { scaledObjectRef: ref({ ...metadata, allowIdleConsumers: 'true' }, 'other'), metricName: '' });
    expect(uncapped.metricValues[0]?.metricValue).toBe(90);
  });

  it('is inactive for a caught-up group, and stays inactive under activationLagThreshold', async () => {
    expect((await call(client.IsActive.bind(client), ref({ consumerGroup: caughtUp, topic }, 'caught-up'))).result).toBe(false);
    const metrics = await call(client.GetMetrics.bind(client), { scaledObjectRef: ref({ consumerGroup: caughtUp, topic }, 'caught-up'), metricName: '' });
    expect(metrics.metricValues[0]?.metricValue).toBe(0);
    expect((await call(client.IsActive.bind(client), ref({ consumerGroup: behind, topic, activationLagThreshold: '90' }, 'activation'))).result).toBe(false);
    expect((await call(client.IsActive.bind(client), ref({ consumerGroup: behind, topic, activationLagThreshold: '89' }, 'activation'))).result).toBe(true);
  });

  it("answers other policies with the policy's recommended replicas against a target of 1", async () => {
    const metadata = { consumerGroup: behind, topic, policy: 'rate', timeLagSloSeconds: '30', serviceRatePerReplica: '5' };
    const spec = await call(client.GetMetricSpec.bind(client), ref(metadata, 'rate'));
    expect(spec.metricSpecs[0]).toMatchObject({ metricName: `lagscale-rate-${behind}-${topic}`, targetSize: 1 });
    const metrics = await call(client.GetMetrics.bind(client), { scaledObjectRef: ref(metadata, 'rate'), metricName: spec.metricSpecs[0]?.metricName });
    const replicas = metrics.metricValues[0]?.metricValue ?? -1;
    expect(Number.isInteger(replicas)).toBe(true);
    expect(replicas).toBeGreaterThanOrEqual(1);
  });

  it('pushes activity changes on StreamIsActive (the external-push trigger)', async () => {
    const group = `keda-push-${suffix}`;
    await commitOffsets([...brokers], group, topic, { 0: 30, 1: 30, 2: 30 });
    const pushMonitor = new LagMonitor({ connection: { brokers: [...brokers] }, groups: [group], intervalSeconds: 0.5 });
    pushMonitor.start();
    await waitFor('the push group in a snapshot', async () => pushMonitor.latest?.groups.find((g) => g.group === group));
    const pushScaler = await startExternalScaler({ source: pushMonitor, brokers: [...brokers], logger: createLogger('keda-test', 'error') });
    const pushClient = connect(pushScaler.address);
    try {
      const stream = pushClient.StreamIsActive(ref({ consumerGroup: group, topic }, 'push'));
      const seen: boolean[] = [];
      stream.on('data', (message: { result: boolean }) => seen.push(message.result));
      stream.on('error', () => {});
      await waitFor('the first push (inactive)', async () => seen.length >= 1);
      expect(seen).toEqual([false]);
      await produce([...brokers], { topic, perPartition: { 1: 5 } });
      await waitFor('a push of true once lag appears', async () => seen.includes(true), 20_000);
      expect(seen).toEqual([false, true]);
      stream.cancel();
    } finally {
      pushClient.close();
      await pushScaler.close();
      await pushMonitor.stop();
    }
  });

  it("keeps a ScaledObject's decisions when another caller asks under its namespace/name with other metadata", async () => {
    // excludePersistentLag: offsets that have not moved since the previous cycle (the group is
    // stuck at 0) are left out of the metric, so each answer depends on the state the last one left.
    const real = ref({ consumerGroup: behind, topic, lagThreshold: '10', excludePersistentLag: 'true' }, 'persistent');
    const impostor = ref({ consumerGroup: behind, topic, lagThreshold: '10', excludePersistentLag: 'true', activationLagThreshold: '1' }, 'persistent');
    const metric = async (asked: ReturnType<typeof ref>) =>
      (await call(client.GetMetrics.bind(client), { scaledObjectRef: asked, metricName: '' })).metricValues[0]?.metricValue;
    const decisions: (number | undefined)[] = [];
    for (let cycle = 0; cycle < 3; cycle++) {
      const seen = monitor.latest?.time;
      await waitFor('a new lag snapshot', async () => monitor.latest !== null && monitor.latest.time !== seen);
      decisions.push(await metric(real));
      await metric(impostor);
    }
    // 90 behind, capped at 3 partitions x 10 on first sight; then the stuck offsets are left out.
    // (Keyed by namespace/name alone, the impostor reset the state each time: 30, 30, 30.)
    expect(decisions).toEqual([30, 0, 0]);
  });

  it('refuses bad trigger metadata with INVALID_ARGUMENT and the exact key', async () => {
    const refusal = async (metadata: Metadata) => {
      const error = (await call(client.GetMetricSpec.bind(client), ref(metadata, 'bad')).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      return error.details;
    };
    expect(await refusal({ topic })).toMatch(/^scalerMetadata\.consumerGroup: required/);
    expect(await refusal({ consumerGroup: behind, lagThreshold: '-5' })).toMatch(/scalerMetadata\.lagThreshold/);
    expect(await refusal({ consumerGroup: behind, lagThreshold: 'lots' })).toMatch(/scalerMetadata\.lagThreshold/);
    expect(await refusal({ consumerGroup: behind, policy: 'magic' })).toMatch(/scalerMetadata\.policy: unknown policy "magic"/);
    // Names Object.prototype holds are no policies either (they were answered INTERNAL).
    for (const policy of ['constructor', 'toString', '__proto__']) {
      expect(await refusal({ consumerGroup: behind, policy })).toBe(`scalerMetadata.policy: unknown policy "${policy}"; use one of rate, threshold`);
    }
    expect(await refusal({ consumerGroup: behind, lagThreshhold: '10' })).toMatch(/scalerMetadata.*lagThreshhold/);
    expect(await refusal({ consumerGroup: behind, bootstrapServers: 'kafka.elsewhere:9092' })).toMatch(
      /scalerMetadata\.bootstrapServers: this scaler reads the cluster at/,
    );
  });

  it('accepts the example ScaledObjects in deploy/keda as they are (KEDA passes scalerAddress along)', async () => {
    for (const file of ['scaledobject-external.yaml', 'scaledobject-external-push.yaml']) {
      const resource = parse(readFileSync(new URL(`../../../deploy/keda/${file}`, import.meta.url), 'utf8')) as {
        spec: { triggers: { type: string; metadata: Metadata }[] };
      };
      for (const trigger of resource.spec.triggers) {
        expect(['external', 'external-push']).toContain(trigger.type);
        const spec = await call(client.GetMetricSpec.bind(client), ref(trigger.metadata, file));
        expect(spec.metricSpecs[0]?.metricName, file).toMatch(/^lagscale-/);
      }
    }
  });

  it('answers UNAVAILABLE (never a made-up number) for a group the cluster does not know', async () => {
    const error = (await call(client.GetMetrics.bind(client), { scaledObjectRef: ref({ consumerGroup: 'keda-nobody' }, 'nobody'), metricName: '' }).catch(
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError;
    expect(error.code).toBe(grpc.status.UNAVAILABLE);
    expect(error.details).toMatch(/keda-nobody/);
  });
});
