import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectBrowserHeaders, get } from '../../exporter/test/http-client.js';
import { type CliProcess, exited, listening, spawnCli } from './cli-process.js';

const worker = [process.execPath, '-e', "setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));"];

/** Nothing answers on port 9: the loop fails to read its metric and holds, the server runs all the same. */
const SOURCES = {
  kafka: { brokers: ['127.0.0.1:9'], source: { type: 'kafka' }, policy: { name: 'threshold', lagThreshold: 100 } },
  prometheus: { brokers: undefined, source: { type: 'prometheus', serverAddress: 'http://127.0.0.1:9', query: 'vector(1)', threshold: 10 } },
} as const;

function configFile(kind: keyof typeof SOURCES): string {
  const { brokers, ...section } = SOURCES[kind];
  const file = join(mkdtempSync(join(tmpdir(), 'lagscale-autoscale-auth-')), 'lagscale.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      ...(brokers === undefined ? {} : { kafka: { brokers } }),
      autoscaler: { group: 'orders', ...section, behavior: { minReplicas: 1, maxReplicas: 2 }, target: { type: 'local', command: worker } },
    }),
  );
  return file;
}

function autoscale(kind: keyof typeof SOURCES, extra: string[] = []): CliProcess {
  return spawnCli(['autoscale', '-c', configFile(kind), '--port', '0', ...extra], { KAFKA_BROKERS: '' });
}

describe.each(['kafka', 'prometheus'] as const)('lagscale autoscale (source %s): the API rules on its own server', (kind) => {
  it('refuses to listen beyond loopback without tokens', async () => {
    const child = autoscale(kind, ['--host', '0.0.0.0']);
    expect(await exited(child)).toBe(2);
    expect(child.output()).toMatch(/refusing to serve the autoscaler on 0\.0\.0\.0 without API tokens: .*pause or resume scaling.*LAGSCALE_API_TOKENS/);
  });

  it('refuses a pause from a page of another site or another Host name, with the browser headers', async () => {
    const child = autoscale(kind);
    try {
      const port = await listening(child, 'autoscale');
      const forged = await get(port, '/api/v1/autoscaler/pause', { origin: 'http://attacker.example' }, { method: 'POST' });
      expect(forged.status).toBe(403);
      expect(JSON.parse(forged.body)).toMatchObject({ error: 'cross_origin' });
      expectBrowserHeaders(forged.headers, 'cross-origin pause');
      const rebound = await get(port, '/api/v1/autoscaler', { host: `attacker.example:${port}` });
      expect(rebound.status).toBe(421);
      expectBrowserHeaders(rebound.headers, 'rebound Host');
      expect(JSON.parse((await get(port, '/api/v1/autoscaler')).body)).toMatchObject({ paused: false });
      // The operator's own client (curl, no Origin) still pauses it.
      expect((await get(port, '/api/v1/autoscaler/pause', {}, { method: 'POST' })).status).toBe(200);
      expect(JSON.parse((await get(port, '/api/v1/autoscaler')).body)).toMatchObject({ paused: true });
      expectBrowserHeaders((await get(port, '/metrics')).headers, 'metrics');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
  });
});
