import { describe, expect, it } from 'vitest';
import { expectBrowserHeaders, get } from '../../exporter/test/http-client.js';
import { type CliProcess, exited, listening, spawnCli } from './cli-process.js';

const secret = 'prometheus-0123456789abcdef';
// No broker answers there: the server starts all the same, and its refusals come before any collection.
const args = ['exporter', '-b', '127.0.0.1:9', '--port', '0', '--interval', '5s'];

/** `lagscale exporter` as a process, with only the environment given (no tokens from the caller's). */
function exporter(extra: string[], env: Record<string, string>): CliProcess {
  return spawnCli([...args, ...extra], env);
}

describe('lagscale exporter --host beyond loopback', () => {
  it('refuses to start without tokens and says what to set', async () => {
    const child = exporter(['--host', '0.0.0.0'], {});
    // A configuration error, as `lagscale api` in the same place: exit 2, what to fix, no stack trace.
    expect(await exited(child)).toBe(2);
    expect(child.output()).toMatch(/refusing to serve lag metrics on 0\.0\.0\.0 without API tokens/);
    expect(child.output()).toContain('LAGSCALE_API_TOKENS=name:scope:secret');
    expect(child.output()).toContain('or listen on 127.0.0.1');
    expect(child.output()).not.toMatch(/\n\s+at /);
  });

  it('starts with a read token in LAGSCALE_API_TOKENS and answers /metrics with it only', async () => {
    const child = exporter(['--host', '0.0.0.0'], { LAGSCALE_API_TOKENS: `prometheus:read:${secret}` });
    try {
      const port = await listening(child, 'the exporter');
      expect(child.output()).toContain('"tokens":["prometheus:read"]');
      const refused = await get(port, '/metrics');
      expect(refused.status).toBe(401);
      expectBrowserHeaders(refused.headers, '401');
      const metrics = await get(port, '/metrics', { authorization: `Bearer ${secret}` });
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('lagscale_collection_duration_seconds');
      expectBrowserHeaders(metrics.headers, 'metrics');
      expect((await get(port, '/api/v1/groups')).status).toBe(401);
      // Probes need no token.
      expect((await get(port, '/healthz')).status).not.toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
  });

  it('on loopback without tokens answers loopback Host names only', async () => {
    const child = exporter([], {});
    try {
      const port = await listening(child, 'the exporter');
      expect((await get(port, '/metrics')).status).toBe(200);
      const rebound = await get(port, '/metrics', { host: `attacker.example:${port}` });
      expect(rebound.status).toBe(421);
      expectBrowserHeaders(rebound.headers, '421');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited(child)).toBe(0);
  });
});
