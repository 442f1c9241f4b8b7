import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteResultStore } from '@lagscale/validator';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admin, commitOffsets, createTopic, waitFor } from '../../../test-support/kafka.js';
import { describeUpload, ProgressLine } from '../src/commands/validate.js';

const brokers = inject('kafkaBrokers');
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const run = `val${Date.now().toString(36)}`;
const REQUESTS = 'validation.requests';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function lagscale(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, KAFKA_BROKERS: '', LAGSCALE_API_TOKENS: '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'lagscale-validate-'));
const store = join(dir, 'results.db');
const group = `${run}-workers`;
let worker: ChildProcess | undefined;

const ruleSet = {
  name: 'people',
  version: 1,
  rules: [
    { id: 'id.required', severity: 'error', type: 'required', field: '/id' },
    { id: 'email.format', severity: 'error', type: 'pattern', field: '/email', pattern: '[^@ ]+@[^@ ]+', message: 'is not an e-mail address' },
  ],
};

beforeAll(async () => {
  const setup = SqliteResultStore.open(store);
  await setup.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet as never, Date.now());
  await setup.close();
  // The worker's group starts at the topic's current end: records other tests left there belong
  // to jobs this store does not know.
  await createTopic(brokers, REQUESTS, 8).catch(() => {});
  const client = admin(brokers);
  try {
    const [topic] = await client.listOffsets({
      topics: [{ name: REQUESTS, partitions: Array.from({ length: 8 }, (_, i) => ({ partitionIndex: i, timestamp: -1n })) }],
    });
    await commitOffsets(brokers, group, REQUESTS, Object.fromEntries((topic?.partitions ?? []).map((p) => [p.partitionIndex, Number(p.offset)])));
  } finally {
    await client.close();
  }
  worker = spawn(process.execPath, [main, 'worker', '-b', brokers.join(','), '--store', store, '--group', group], { stdio: 'ignore' });
});

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker?.once('exit', resolve));
  }
});

describe('lagscale validate', () => {
  it('submits a file with plain progress lines (not a terminal), waits for the workers and prints the summary as JSON', async () => {
    const file = join(dir, 'people.ndjson');
    const lines = Array.from({ length: 3000 }, (_, k) => {
      const i = k + 1;
      if (i % 500 === 0) return `{"id": ${i}, "email": `;
      return JSON.stringify({ id: i, email: i % 10 === 0 ? 'nobody' : `p${i}@example.org` });
    });
    writeFileSync(file, `${lines.join('\n')}\n`);
    const jobId = `${run}-ndjson`;
    const r = await lagscale(['validate', file, '--rules', 'people', '--store', store, '-b', brokers.join(','), '--job-id', jobId, '--wait', '--json']);
    expect(r.stderr).not.toContain('lagscale:');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^produced: \d+% \d+ records produced/m);
    expect(r.stderr).toContain(`job ${jobId}: 3000 records from people.ndjson submitted in`);
    expect(r.stderr).toContain('6 could not be read and are in the DLQ');
    expect(r.stderr).toMatch(/validated 3000 records in [\d.]+ s: 2700 valid, 294 invalid, 6 in the DLQ/);
    const out = JSON.parse(r.stdout) as { job: Record<string, unknown>; summary: { byRule: unknown[] } };
    expect(out.job).toMatchObject({ id: jobId, total: 3000, results: 2994, valid: 2700, invalid: 294, dlq: 6, progress: 1, source: 'file:people.ndjson' });
    expect(out.summary.byRule).toEqual([{ ruleId: 'email.format', severity: 'error', records: 294, violations: 294 }]);
  }, 120_000);

  it('prints the summary as text, reads CSV, and takes a rule set version', async () => {
    const file = join(dir, 'people.csv');
    writeFileSync(file, 'id,email\n1,a@example.org\n2,broken\n3,c@example.org,extra\n');
    const r = await lagscale(['validate', file, '-r', 'people', '--rules-version', '1', '--store', store, '-b', brokers.join(','), '--wait']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^job [0-9a-f-]{36}: 3 records, 1 valid \(0 with warnings\), 1 invalid, 1 in the DLQ$/m);
    expect(r.stdout).toMatch(/RULE\s+SEVERITY\s+RECORDS\s+VIOLATIONS\nemail\.format\s+error\s+1\s+1/);
    expect(r.stdout).toMatch(/FIELD\s+RECORDS\s+VIOLATIONS\n\/email\s+1\s+1/);
  }, 60_000);

  it('without --wait prints the submitted job and returns at once', async () => {
    const file = join(dir, 'one.json');
    writeFileSync(file, '[{"id": 1, "email": "a@example.org"}]');
    const r = await lagscale(['validate', file, '-r', 'people', '--store', store, '-b', brokers.join(','), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).job).toMatchObject({ total: 1, source: 'file:one.json', ruleSetVersion: 1 });
  });

  it('says what is wrong: a missing file or rule set, a bad format, an upload that is not what it claims', async () => {
    const missing = await lagscale(['validate', join(dir, 'nope.ndjson'), '-r', 'people', '--store', store, '-b', brokers.join(',')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read');
    expect(missing.stderr).toContain('no such file');

    const file = join(dir, 'x.ndjson');
    writeFileSync(file, '{"id": 1}\n');
    const unknown = await lagscale(['validate', file, '-r', 'nobody', '--store', store, '-b', brokers.join(',')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('lagscale: rule set "nobody" does not exist: create it first');

    const format = await lagscale(['validate', file, '-r', 'people', '--format', 'xml', '--store', store, '-b', brokers.join(',')]);
    expect(format.code).toBe(2);
    expect(format.stderr).toContain('Allowed choices are ndjson, csv, json');

    const notArray = await lagscale(['validate', file, '-r', 'people', '--format', 'json', '--store', store, '-b', brokers.join(',')]);
    expect(notArray.code).toBe(1);
    expect(notArray.stderr).toMatch(/lagscale: .*array/);

    const noBrokers = await lagscale(['validate', file, '-r', 'people', '--store', store]);
    expect(noBrokers.code).toBe(2);
    expect(noBrokers.stderr).toContain('no Kafka brokers');
  }, 60_000);
});

describe('progress display', () => {
  it('draws a bar in place on a terminal, at most every 100 ms', () => {
    let out = '';
    let now = 0;
    const line = new ProgressLine({ isTTY: true, columns: 200, write: (t: string) => (out += t) }, 'produced', { now: () => now });
    const progress = (records: number, bytes: number) =>
      describeUpload({ bytesRead: bytes, recordsRead: records, recordsProduced: records, recordsFailed: 0 }, 1000, 0, now + 1000);
    line.update(progress(10, 250));
    now = 50;
    line.update(progress(20, 500)); // too soon: not drawn
    now = 150;
    line.update(progress(30, 750));
    line.finish('done');
    expect(out.split('\r\x1b[2K')).toEqual([
      '',
      '[######------------------] 25% 10 records produced, 0.0 MiB of 0.0 MiB read, 10 records/s',
      '[##################------] 75% 30 records produced, 0.0 MiB of 0.0 MiB read, 26 records/s',
      'done\n',
    ]);
  });

  it('writes a plain line every 2 s elsewhere', () => {
    let out = '';
    let now = 0;
    const line = new ProgressLine({ isTTY: false, write: (t: string) => (out += t) }, 'validated', { now: () => now });
    for (; now <= 5000; now += 500) line.update({ fraction: now / 10000, text: `${now} records` });
    line.finish('finished');
    expect(out).toBe('validated: 0% 0 records\nvalidated: 20% 2000 records\nvalidated: 40% 4000 records\nfinished\n');
  });
});

describe('lagscale api', () => {
  it('refuses to listen beyond loopback without tokens', async () => {
    const r = await lagscale(['api', '--host', '0.0.0.0', '--port', '0', '--store', store]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('lagscale: refusing to serve the API on 0.0.0.0 without API tokens');
  });

  it('refuses a malformed token list, naming the entry', async () => {
    const r = await lagscale(['api', '--port', '0', '--store', store], { LAGSCALE_API_TOKENS: 'ci:wirte:0123456789abcdef0123' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('LAGSCALE_API_TOKENS token 1 ("ci"): the scope is "wirte"');
    expect(r.stderr).not.toContain('0123456789abcdef0123');
  });

  it('serves the API with tokens on 0.0.0.0: /healthz and /openapi.json open, /api needs a token; stops on SIGTERM', async () => {
    const secret = 'reader-secret-0123456789';
    const child = spawn(process.execPath, [main, 'api', '--host', '0.0.0.0', '--port', '0', '--store', store, '-b', brokers.join(',')], {
      env: { ...process.env, LAGSCALE_API_TOKENS: `console:read:${secret}` },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    try {
      const url = await waitFor('the API to listen', async () => /"url":"(http:\/\/[^"]+)"/.exec(stderr)?.[1], 20_000, 50);
      const port = new URL(url).port;
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const document = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
      expect(document.openapi).toMatch(/^3\./);
      expect(Object.keys(document.paths)).toContain('/api/v1/jobs/{id}/results');
      expect((await fetch(`${base}/api/v1/rulesets`)).status).toBe(401);
      const listed = await fetch(`${base}/api/v1/rulesets`, { headers: { authorization: `Bearer ${secret}` } });
      expect(listed.status).toBe(200);
      expect(((await listed.json()) as { items: { name: string }[] }).items.map((i) => i.name)).toContain('people');
      const write = await fetch(`${base}/api/v1/rulesets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(write.status).toBe(403);
      expect(stderr).not.toContain(secret);
    } finally {
      child.kill('SIGTERM');
      const code = await new Promise((resolve) => child.once('exit', resolve));
      expect(code).toBe(0);
    }
  }, 60_000);
});
