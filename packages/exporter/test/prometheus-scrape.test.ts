import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExporterServer, createLogger } from '@lagscale/exporter';
import { freePorts, LagMonitor } from '@lagscale/kafka';
import { describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce, waitFor } from '../../../test-support/kafka.js';

const brokers = inject('kafkaBrokers');

async function freePort(): Promise<number> {
  return ((await freePorts(1)) as [number])[0];
}

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
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-prometheus-'));
    const promPort = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: lagscale\n    static_configs:\n      - targets: ['127.0.0.1:${exporterPort}']\n`,
    );
    let prometheus: ChildProcess | undefined;
    try {
      prometheus = spawn(
        'prometheus',
        [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
        {
          stdio: 'ignore',
        },
      );
      const spawnError = new Promise<never>((_, reject) =>
        prometheus?.once('error', (e) => reject(new Error(`cannot start prometheus (install Debian's prometheus package): ${e.message}`))),
      );
      const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
        const response = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await response.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
        return body.data.result;
      };
      const lag = await Promise.race([
        spawnError,
        waitFor(
          'Prometheus to ingest kafka_consumergroup_lag',
          async () => {
            const result = await query(`kafka_consumergroup_lag{consumergroup="${group}"}`);
            return result.length === 2 ? result : undefined;
          },
          60_000,
          500,
        ),
      ]);
      const byPartition = Object.fromEntries(lag.map((r) => [r.metric.partition, Number(r.value[1])]));
      expect(byPartition).toEqual({ '0': 20, '1': 0 });
      const targets = (await (await fetch(`http://127.0.0.1:${promPort}/api/v1/targets`)).json()) as {
        data: { activeTargets: { health: string; lastError: string }[] };
      };
      expect(targets.data.activeTargets[0]?.health).toBe('up');
      expect(targets.data.activeTargets[0]?.lastError).toBe('');
      // One status at a time (an empty group with stuck lag turns from OK to STOP after a window).
      expect((await query(`sum(lagscale_consumergroup_status{consumergroup="${group}"})`))[0]?.value[1]).toBe('1');
      expect((await query('lagscale_collection_duration_seconds_count'))[0]?.value[1]).not.toBe('0');
      expect((await query(`kafka_consumergroup_lag_sum{consumergroup="${group}"}`))[0]?.value[1]).toBe('20');
    } finally {
      prometheus?.kill('SIGTERM');
      await app.close();
      await monitor.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
