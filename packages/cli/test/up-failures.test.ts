import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lagscale-up-failures-'));

function up(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, 'up'], {
      env: { ...process.env, KAFKA_BROKERS: '', LAGSCALE_HOME: join(dir, `home-${Math.random().toString(36).slice(2)}`), LAGSCALE_PORT: '0', ...env },
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

/** A `java` that answers `-version` like an old JDK. */
function fakeJava(version: string): string {
  const home = join(dir, `jdk-${version}`);
  mkdirSync(join(home, 'bin'), { recursive: true });
  const java = join(home, 'bin', 'java');
  writeFileSync(java, `#!/bin/sh\necho 'openjdk version "${version}" 2020-01-14' >&2\n`);
  chmodSync(java, 0o755);
  return home;
}

/** `npm start` when something is missing: each failure says what is wrong and what to do, and exits non-zero. */
describe('lagscale up refuses to start, saying what to do', () => {
  let busy: Server;
  let busyPort = 0;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    busyPort = (busy.address() as { port: number }).port;
  });
  afterAll(() => busy.close());

  it('when the console port is taken', async () => {
    const r = await up({ LAGSCALE_PORT: String(busyPort) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`port ${busyPort} (the API and console) is already in use`);
    expect(r.stderr).toContain('set LAGSCALE_PORT to a free port');
  });

  it("when the local Kafka's port is taken", async () => {
    const r = await up({ LAGSCALE_KAFKA_PORT: String(busyPort) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`port ${busyPort} (Kafka) is already in use`);
    expect(r.stderr).toContain('LAGSCALE_KAFKA_PORT');
  });

  it('when Java is missing', async () => {
    const r = await up({ JAVA_HOME: join(dir, 'no-such-jdk') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Java is needed to run the local Kafka broker .* Install a JDK \(17 or newer\) or set JAVA_HOME/);
    expect(r.stderr).toContain('set KAFKA_BROKERS=host:port');
  });

  it('when Java is too old', async () => {
    const r = await up({ JAVA_HOME: fakeJava('11.0.2') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs Java 17 or newer, but .* is Java 11/);
  });

  it('when the API would listen beyond loopback without tokens, before starting Kafka', async () => {
    const started = Date.now();
    const r = await up({ LAGSCALE_HOST: '0.0.0.0', LAGSCALE_API_TOKENS: '' });
    // 2: a configuration mistake (README, "Exit codes").
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refusing to serve the API on 0.0.0.0 without API tokens');
    expect(r.stderr).not.toContain('starting a local Kafka broker');
    // Kafka takes seconds to start; the refusal comes before it.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('when a token in LAGSCALE_API_TOKENS is malformed, naming the entry', async () => {
    const r = await up({ LAGSCALE_API_TOKENS: 'ci:write:short' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('LAGSCALE_API_TOKENS token 1 ("ci"): the secret must be at least 16 characters');
  });

  it('when the configured Kafka is not reachable', async () => {
    // Port 1: nothing listens there, connections are refused at once.
    const r = await up({ KAFKA_BROKERS: '127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Kafka at 127.0.0.1:1 is not reachable');
    expect(r.stderr).toContain('check KAFKA_BROKERS, or unset it to run a local broker');
  });
});
