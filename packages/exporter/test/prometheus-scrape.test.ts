import { createExporterServer, createLogger } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import { describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';
import { type RunningPrometheus, startPrometheus } from '../../../test-support/prometheus.js';

const brokers = inject('kafkaBrokers');

/** A real Prometheus (Debian's package) scrapes the exporter: the exposition must parse and the values must be right. */
describe('Prometheus scraping /metrics', () => {
  it('ingests kafka_exporter-compatible and lagscale series without scrape errors', async () => {
    const topic = `prom-${Date.now().toString(36)}`;
    const group = `${topic}-group`;
    await createTopic(brokers, topic, 2);
    await produce(brokers, { topic, perPartition: { 0: 30, 1: 12 } });
    await commitOffsets(brokers, group, topic, { 0: 10, 1: 12 });

    const monitor = new LagMonitor({ connection: { brokers }, groups: [group], intervalSeconds: 0.5 });
    const app = await createExporterServer({ monitor, logger: createLogger('test', 'warn') });
    await app.listen({ host: '127.0.0.1', port: 0 });
    monitor.start();
    const exporterPort = (app.server.address() as { port: number }).port;
    let prometheus: RunningPrometheus | undefined;
    try {
      prometheus = await startPrometheus({ scrapeConfigs: `  - job_name: lagscale\n    static_configs:\n      - targets: ['127.0.0.1:${exporterPort}']` });
      const { query } = prometheus;
      const lag = await waitFor(
        'Prometheus to ingest kafka_consumergroup_lag',
        async () => {
          const result = await query(`kafka_consumergroup_lag{consumergroup="${group}"}`);
          return result.length === 2 ? result : undefined;
        },
        60_000,
        500,
      );
      const byPartition = Object.fromEntries(lag.map((r) => [r.metric.partition, Number(r.value[1])]));
      expect(byPartition).toEqual({ '0': 20, '1': 0 });
      const targets = await prometheus.targets();
      expect(targets[0]?.health).toBe('up');
      expect(targets[0]?.lastError).toBe('');
      // One status at a time (an empty group with stuck lag turns from OK to STOP after a window).
      expect((await query(`sum(lagscale_consumergroup_status{consumergroup="${group}"})`))[0]?.value[1]).toBe('1');
      expect((await query('lagscale_collection_duration_seconds_count'))[0]?.value[1]).not.toBe('0');
      expect((await query(`kafka_consumergroup_lag_sum{consumergroup="${group}"}`))[0]?.value[1]).toBe('20');
    } finally {
      await prometheus?.stop();
      await app.close();
      await monitor.stop();
    }
  }, 90_000);
});
