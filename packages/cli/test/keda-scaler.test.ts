import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SCALER_LIMITS } from '@lagscale/kubernetes';
import { afterEach, describe, expect, it } from 'vitest';
import { call, connectKedaClient } from '../../../test-support/keda-client.js';
import { get } from '../../exporter/test/http-client.js';

/**
 * lagscale keda-scaler's flags for its bounds and token, and its /metrics (with the exporter's
 * tokens and Host rules). No Kafka: the broker address answers nothing, and every call here is
 * refused or answered before any lag is read.
 */

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const UNREACHABLE = '127.0.0.1:1';

interface Started {
  readonly child: ChildProcess;
  readonly address: string;
  readonly metricsUrl: string;
  readonly started: Record<string, unknown>;
}

/** The caller's environment without anything that would give the command tokens or a config file. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const { LAGSCALE_API_TOKENS: _tokens, LAGSCALE_CONFIG: _config, ...rest } = process.env;
  return { ...rest, KAFKA_BROKERS: '', LAGSCALE_KEDA_SCALER_TOKEN_FILE: '', LAGSCALE_KEDA_SCALER_TOKEN: '', ...env };
}

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

/** Starts the command and waits for its started lines (the scaler's address, the metrics URL). */
function start(args: readonly string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, [main, 'keda-scaler', '-b', UNREACHABLE, '-p', '0', '--metrics-port', '0', ...args], {
    env: cleanEnv(env),
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const started = output.split('\n').find((line) => line.includes('"event":"keda_scaler_started"'));
      const metrics = /"event":"metrics_started".*?"url":"([^"]+)"/.exec(output);
      if (started !== undefined && metrics) {
        const fields = JSON.parse(started) as Record<string, unknown>;
        resolve({ child, address: fields.address as string, metricsUrl: metrics[1] as string, started: fields });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`keda-scaler exited (code ${code}): ${output}`)));
  });
}

function run(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, 'keda-scaler', '-b', UNREACHABLE, ...args], { env: cleanEnv(env) });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.on('exit', (code) => resolve({ code, stderr, stdout }));
  });
}

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('lagscale keda-scaler: bounds, token file, /metrics', () => {
  it("takes its bounds from flags and serves the scaler's own metrics (state entries and their bound, errors, unauthenticated calls, streams)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-keda-cli-'));
    const token = 'cli-token-0123456789abcdef';
    writeFileSync(join(dir, 'token'), `${token}\n`);
    const scaler = await start([
      '--token-file',
      join(dir, 'token'),
      '--max-states',
      '7',
      '--state-idle',
      '2m',
      '--max-metadata-keys',
      '8',
      '--max-metadata-key-length',
      '100',
      '--max-metadata-value-length',
      '200',
      '--max-streams',
      '3',
    ]);
    expect(scaler.started.limits).toEqual({
      maxEntries: 7,
      idleSeconds: 120,
      maxMetadataKeys: 8,
      maxMetadataKeyLength: 100,
      maxMetadataValueLength: 200,
      maxStreams: 3,
    });
    expect(scaler.started.authentication).toEqual({ token: true, clientCertificate: false });
    const client = connectKedaClient(scaler.address);
    try {
      const ref = (metadata: Record<string, string>) => ({ name: 'billing', namespace: 'shop', scalerMetadata: metadata });
      // No token: UNAUTHENTICATED. The token and 9 keys: beyond --max-metadata-keys. The token and a good trigger: answered.
      await expect(call(client.IsActive.bind(client), ref({ consumerGroup: 'billing' }))).rejects.toMatchObject({
        details: expect.stringMatching(/a token is required/),
      });
      const eightKeys = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, 'v']));
      await expect(call(client.IsActive.bind(client), ref({ ...eightKeys, scalerTokenFromEnv: token }))).rejects.toMatchObject({
        details: 'scalerMetadata: 9 keys, more than the 8 allowed',
      });
      const spec = await call(client.GetMetricSpec.bind(client), ref({ consumerGroup: 'billing', lagThreshold: '10', scalerTokenFromEnv: token }));
      expect(spec.metricSpecs[0]?.targetSize).toBe(10);
    } finally {
      client.close();
    }
    const metrics = await (await fetch(`${scaler.metricsUrl}/metrics`)).text();
    expect(sample(metrics, 'lagscale_keda_scaler_state_entries_max')).toBe(7);
    expect(sample(metrics, 'lagscale_keda_scaler_state_entries')).toBe(0);
    expect(sample(metrics, 'lagscale_keda_scaler_streams')).toBe(0);
    expect(sample(metrics, 'lagscale_keda_scaler_requests_total{method="IsActive"}')).toBe(2);
    expect(sample(metrics, 'lagscale_keda_scaler_requests_total{method="GetMetricSpec"}')).toBe(1);
    expect(sample(metrics, 'lagscale_keda_scaler_errors_total{method="IsActive"}')).toBe(2);
    expect(sample(metrics, 'lagscale_keda_scaler_unauthenticated_total{method="IsActive"}')).toBe(1);
    expect(sample(metrics, 'lagscale_keda_scaler_state_evictions_total{reason="size"}')).toBe(0);
    expect(sample(metrics, 'lagscale_keda_scaler_state_evictions_total{reason="idle"}')).toBe(0);
  }, 30_000);

  it('refuses a bound out of range, or a token file it cannot use, with exit 2 and the flag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-keda-cli-'));
    writeFileSync(join(dir, 'short'), 'abc\n');
    const cases: [string[], string][] = [
      [['--max-states', '0'], '--max-states must be a whole number from 1 to 1000000, got "0"'],
      [['--max-metadata-value-length', '1e9'], '--max-metadata-value-length must be a whole number from 1 to 65536, got "1e9"'],
      [['--state-idle', 'forever'], '--state-idle must be a duration like 5s, 500ms or 1m, got "forever"'],
      [['--token-file', join(dir, 'missing')], `--token-file: token file ${join(dir, 'missing')}: cannot read it`],
      [['--token-file', join(dir, 'short')], `--token-file: token file ${join(dir, 'short')}, line 1: a token must be at least 16 characters`],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    for (const [index, [args, message]] of cases.entries()) {
      expect(results[index]?.code, args.join(' ')).toBe(2);
      expect(results[index]?.stderr, args.join(' ')).toContain(message);
    }
  });
});

describe('lagscale keda-scaler --metrics-port: the tokens and Host rules of lagscale exporter', () => {
  const secret = 'prometheus-0123456789abcdef';
  const portOf = (url: string): number => Number(new URL(url).port);

  it('refuses to listen beyond loopback without API tokens: exit 2, what to set, no stack trace', async () => {
    const refused = await run(['--host', '0.0.0.0', '-p', '0', '--metrics-port', '0']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--metrics-port: refusing to serve lag metrics on 0.0.0.0 without API tokens');
    expect(refused.stderr).toContain('LAGSCALE_API_TOKENS=name:scope:secret');
    expect(refused.stderr).toContain('or leave out --metrics-port');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    // Refused before anything started: no gRPC server, no metrics server.
    expect(refused.stdout + refused.stderr).not.toMatch(/keda_scaler_started|metrics_started/);
    // A token that cannot be used is a config error too, naming the entry.
    const bad = await run(['--host', '0.0.0.0', '-p', '0', '--metrics-port', '0'], { LAGSCALE_API_TOKENS: 'prometheus:read:short' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('LAGSCALE_API_TOKENS token 1 ("prometheus"): the secret must be at least 16 characters');
  });

  it('on 0.0.0.0 with a read token: /metrics and /api/v1 need it, /healthz does not', async () => {
    const scaler = await start(['--host', '0.0.0.0'], { LAGSCALE_API_TOKENS: `prometheus:read:${secret}` });
    const port = portOf(scaler.metricsUrl);
    const refused = await get(port, '/metrics');
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    expect((await get(port, '/metrics', { authorization: 'Bearer wrong-0123456789abcdef' })).status).toBe(401);
    expect((await get(port, '/api/v1/groups')).status).toBe(401);
    const metrics = await get(port, '/metrics', { authorization: `Bearer ${secret}` });
    expect(metrics.status).toBe(200);
    expect(sample(metrics.body, 'lagscale_keda_scaler_state_entries_max')).toBe(DEFAULT_SCALER_LIMITS.maxEntries);
    expect(metrics.body).toContain('lagscale_collection_duration_seconds');
    // The probe's route needs no token; with no broker, lag collection has not completed: "starting".
    for (const headers of [{}, { host: 'lagscale-keda-scaler.lagscale.svc:9308' }]) {
      const health = await get(port, '/healthz', headers);
      expect([health.status, (JSON.parse(health.body) as { status: string }).status]).toEqual([503, 'starting']);
    }
  }, 30_000);

  it('on loopback without tokens: loopback Host names only (421 for another)', async () => {
    const scaler = await start([]);
    const port = portOf(scaler.metricsUrl);
    expect((await get(port, '/metrics')).status).toBe(200);
    const rebound = await get(port, '/metrics', { host: `attacker.example:${port}` });
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body)).toMatchObject({ error: 'host_not_allowed' });
    expect((await get(port, '/healthz', { host: `attacker.example:${port}` })).status).toBe(421);
  }, 30_000);
});
