import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, produce } from '../../../test-support/kafka.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const brokers = inject('kafkaBrokers');

/**
 * The environment of a user's shell: no npm_* settings and no node_modules/.bin on PATH from the
 * `npm test` this runs under (they would point the install at the repository's own packages).
 */
function userEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.toLowerCase().startsWith('npm_')) env[key] = value;
  env.PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((entry) => !entry.includes('node_modules'))
    .join(':');
  return env;
}

/**
 * The `lagscale` command as a user installs it without the repository: `scripts/pack.mjs` makes
 * one tarball, `npm install -g` puts it on a clean prefix, and the installed command runs against
 * a real broker and a SQLite store (native better-sqlite3 built by the install).
 */
describe('the packed lagscale command on a clean prefix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lagscale-packed-'));
  const prefix = join(dir, 'prefix');
  const lagscale = join(prefix, 'bin', 'lagscale');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('packs, installs globally and answers --version', async () => {
    const { stdout: packed } = await run(process.execPath, [join(ROOT, 'scripts/pack.mjs'), join(dir, 'out')], { cwd: ROOT });
    const tarball = packed.trim();
    expect(tarball).toMatch(/lagscale-\d+\.\d+\.\d+\.tgz$/);
    // --nodedir: better-sqlite3 compiles against the installed Node headers (nothing is downloaded).
    await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', '--nodedir=/usr', tarball], {
      cwd: dir,
      env: userEnvironment(),
      maxBuffer: 16 * 1024 * 1024,
    });
    const { stdout } = await run(lagscale, ['--version'], { cwd: dir });
    expect(stdout.trim()).toBe('0.1.0');
  }, 600_000);

  it('shows lag from a real broker', async () => {
    const topic = `packed-${Date.now().toString(36)}`;
    await createTopic([...brokers], topic, 1);
    await produce([...brokers], { topic, perPartition: { 0: 25 } });
    await commitOffsets([...brokers], `${topic}-group`, topic, { 0: 5 });
    const { stdout } = await run(lagscale, ['lag', '-b', brokers.join(','), '-g', `${topic}-group`, '--json'], { cwd: dir });
    const snapshot = JSON.parse(stdout) as { groups: { group: string; partitions: { lag: number }[] }[] };
    expect(snapshot.groups[0]?.partitions[0]?.lag).toBe(20);
  }, 60_000);

  it('serves the API on a SQLite store', async () => {
    const child = spawn(lagscale, ['api', '-b', brokers.join(','), '--store', join(dir, 'results.db'), '-p', '0', '--log-level', 'info'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer): void => {
          text += chunk.toString();
          const found = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(text) ?? /(http:\/\/127\.0\.0\.1:\d+)/.exec(text);
          if (found) resolve(found[1] as string);
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('exit', (code) => reject(new Error(`lagscale api exited (code ${code}): ${text}`)));
      });
      const response = await fetch(`${url}/api/v1/rulesets`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ items: [] });
    } finally {
      child.kill('SIGTERM');
    }
  }, 60_000);
});
