import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';
import { startPrometheus } from '../../../test-support/prometheus.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const worker = [process.execPath, '-e', "setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));"];

function configFile(autoscaler: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lagscale-autoscale-prometheus-'));
  const file = join(dir, 'lagscale.yaml');
  // JSON is YAML: the file is written exactly as a user would, through the same loader.
  writeFileSync(file, JSON.stringify({ autoscaler }, null, 2));
  return file;
}

function lagscale(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, KAFKA_BROKERS: '' } });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('lagscale autoscale with source prometheus', () => {
  it('stops start-up with exit 2 and the path of each mistake', async () => {
    const bad = configFile({
      group: 'backlog',
      source: { type: 'prometheus', serverAddress: 'prometheus:9090', threshold: 'ten', ignoreNullValues: 'sometimes' },
      policy: { name: 'threshold', lagThreshold: 10 },
      target: { type: 'local', command: worker },
    });
    const r = await lagscale(['autoscale', '-c', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('autoscaler.source.serverAddress: must be an http:// or https:// URL');
    expect(r.stderr).toContain('autoscaler.source.query: required');
    expect(r.stderr).toContain('autoscaler.source.threshold: must be a number, got "ten"');
    expect(r.stderr).toContain('autoscaler.source.ignoreNullValues: must be true or false, got "sometimes"');
    expect(r.stderr).toContain('autoscaler.policy: not used with source type prometheus');

    const missingCa = configFile({
      group: 'backlog',
      source: { type: 'prometheus', serverAddress: 'https://127.0.0.1:1', query: 'up', threshold: 1, tls: { ca: '/nonexistent/ca.pem' } },
      target: { type: 'local', command: worker },
    });
    const ca = await lagscale(['autoscale', '-c', missingCa]);
    expect(ca.code).toBe(2);
    expect(ca.stderr).toContain("autoscaler.source: cannot read the prometheus source's tls.ca /nonexistent/ca.pem");

    const unknownType = configFile({ group: 'backlog', source: { type: 'graphite' }, target: { type: 'local', command: worker } });
    const type = await lagscale(['autoscale', '-c', unknownType]);
    expect(type.code).toBe(2);
    expect(type.stderr).toContain('autoscaler.source.type: must be one of kafka, prometheus');
  });

  it('scales its local workers on a PromQL query without any Kafka, and reports the query on /metrics', async () => {
    let backlog = 250;
    const exporter = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`# TYPE queue_backlog gauge\nqueue_backlog{queue="orders"} ${backlog}\n`);
    });
    await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
    const prometheus = await startPrometheus({
      scrapeConfigs: ['  - job_name: queue', '    static_configs:', `      - targets: ['127.0.0.1:${(exporter.address() as AddressInfo).port}']`].join('\n'),
    });
    const file = configFile({
      group: 'orders-workers',
      source: { type: 'prometheus', serverAddress: prometheus.url, query: 'max(queue_backlog{queue="orders"})', threshold: 100, pollingInterval: 0.5 },
      behavior: { minReplicas: 1, maxReplicas: 5, scaleDown: { stabilizationWindowSeconds: 0 } },
      target: { type: 'local', command: worker, drainTimeoutSeconds: 5 },
    });
    const child = spawn(process.execPath, [main, 'autoscale', '-c', file, '--port', '0'], { env: { ...process.env, KAFKA_BROKERS: '' } });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await waitFor('the autoscaler to listen', async () => /"url":"(http:\/\/[^"]+)"/.exec(stderr)?.[1], 20_000, 100);
      const state = async () =>
        (await (await fetch(`${url}/api/v1/autoscaler`)).json()) as {
          currentReplicas: number;
          policy: { name: string };
          lastDecision: { recommendation: { arithmetic: string } | null } | null;
        };
      await waitFor('3 workers for a backlog of 250', async () => (await state()).currentReplicas === 3, 20_000, 200);
      const at3 = await state();
      expect(at3.policy.name).toBe('prometheus');
      expect(at3.lastDecision?.recommendation?.arithmetic).toContain(
        'query max(queue_backlog{queue="orders"}) = 250 (vector, {}); 250 / threshold 100 = 2.5 -> ceil 3',
      );
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('lagscale_autoscaler_source_value{consumergroup="orders-workers",target="local:orders-workers",source="prometheus"} 250');
      expect(metrics).toMatch(/lagscale_autoscaler_metric_value\{[^}]*policy="prometheus",metric="prometheus"\} 250/);

      backlog = 40;
      await waitFor('1 worker for a backlog of 40', async () => (await state()).currentReplicas === 1, 20_000, 200);
      expect(stderr).not.toContain('lag collection');
    } finally {
      child.kill('SIGTERM');
      const code = await exited;
      await prometheus.stop();
      await new Promise((resolve) => exporter.close(resolve));
      expect(code).toBe(0);
    }
  });
});
