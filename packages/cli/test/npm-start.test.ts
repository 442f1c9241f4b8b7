import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts } from '@lagscale/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { sqlitePrebuildEnv } from '../../../test-support/sqlite-prebuild.js';

const repository = fileURLToPath(new URL('../../../', import.meta.url));

async function freePort(): Promise<number> {
  return ((await freePorts(1)) as [number])[0];
}

/** Processes whose command line mentions `text`, but not this test's own `ps`. */
function processesMentioning(text: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(text) && !line.includes('ps -eo'))
    .map((line) => line.trim());
}

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly output: () => string;
  readonly startMs: number;
}

/** `npm start` in its own process group (as a terminal runs it); resolves when it prints its URL. */
function npmStart(cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Started> {
  const started = Date.now();
  const child = spawn('npm', ['start'], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed no URL within ${timeoutMs} ms:\n${output.slice(-3000)}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /lagscale is running: open (http:\/\/\S+?)\/?\s/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1], output: () => output, startMs: Date.now() - started });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code} before printing its URL:\n${output.slice(-3000)}`));
    });
  });
}

/**
 * Ctrl-C: SIGINT to the whole process group. npm itself exits at once; lagscale then drains its
 * workers and stops Kafka. Resolves when it printed "stopped." and no process of the checkout is left.
 */
async function interrupt(started: Started, checkout: string, timeoutMs: number): Promise<{ ms: number }> {
  const t0 = Date.now();
  process.kill(-(started.child.pid as number), 'SIGINT');
  while (Date.now() - t0 < timeoutMs) {
    if (started.output().includes('stopped.') && processesMentioning(checkout).length === 0) return { ms: Date.now() - t0 };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `npm start did not stop cleanly within ${timeoutMs} ms of SIGINT; left: ${JSON.stringify(processesMentioning(checkout))}\n${started.output().slice(-3000)}`,
  );
}

async function waitForHealthy(url: string, timeoutMs: number): Promise<{ status: number; body: { status: string } }> {
  const deadline = Date.now() + timeoutMs;
  let last: { status: number; body: { status: string } } = { status: 0, body: { status: 'unreachable' } };
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/healthz`).catch(() => null);
    if (response) {
      last = { status: response.status, body: (await response.json()) as { status: string } };
      if (response.status === 200) return last;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return last;
}

/**
 * What a new user does: clone, `npm ci`, `npm start`, open the console, Ctrl-C. The Kafka jars
 * are already in the per-user cache (CI resolves them before the tests). Then a second start of
 * the same checkout reuses its state, and every Ctrl-C leaves no process behind.
 */
describe('npm start from a clean clone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lagscale-clone-'));
  const clone = join(dir, 'lagscale');
  afterAll(() => {
    for (const line of processesMentioning(clone)) {
      const pid = Number(line.split(/\s+/)[0]);
      if (pid > 0) process.kill(pid, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the console and /healthz, stops cleanly on SIGINT, and a second start reuses the state', { timeout: 900_000 }, async () => {
    // Asynchronously: a blocked test worker misses the runner's heartbeats during a long npm ci.
    await promisify(execFile)('git', ['clone', '--quiet', repository, clone]);
    // better-sqlite3 from a prebuilt binary, as a user's npm ci downloads it (this machine has no
    // network for that): compiling SQLite cost the suite a minute of both cores. The packed
    // install test still compiles it.
    await promisify(execFile)('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: clone,
      env: { ...process.env, ...sqlitePrebuildEnv(dir) },
      timeout: 600_000,
      maxBuffer: 64 * 1024 * 1024,
    });

    const env: NodeJS.ProcessEnv = { ...process.env, LAGSCALE_PORT: String(await freePort()), LAGSCALE_KAFKA_PORT: String(await freePort()) };
    delete env.KAFKA_BROKERS;
    delete env.LAGSCALE_HOME;

    const first = await npmStart(clone, env, 300_000);
    const page = await fetch(`${first.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<div id="root">');
    const health = await waitForHealthy(first.url, 60_000);
    expect(health).toEqual({ status: 200, body: expect.objectContaining({ status: 'ok' }) });
    const ruleSets = (await (await fetch(`${first.url}/api/v1/rulesets`)).json()) as { items: { name: string }[] };
    expect(ruleSets.items.map((r) => r.name)).toContain('customer-orders');
    const stopped = await interrupt(first, clone, 90_000);
    expect(first.output()).not.toMatch(/"level":50/);
    expect(existsSync(join(clone, '.lagscale', 'kafka', 'cluster.json'))).toBe(true);

    const second = await npmStart(clone, env, 180_000);
    expect(second.output()).toContain('data kept in .lagscale/kafka');
    expect((await waitForHealthy(second.url, 60_000)).status).toBe(200);
    const again = await interrupt(second, clone, 90_000);
    console.log(`npm start: first ${first.startMs} ms, second ${second.startMs} ms; SIGINT to exit ${stopped.ms} ms and ${again.ms} ms`);
  });
});
