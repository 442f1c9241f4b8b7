import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveElasticsearch, serializeServerArgs, startElasticsearchNode, TESTED_ELASTICSEARCH_VERSIONS } from '@lagscale/elasticsearch';
import { UNPRIVILEGED_ID } from '@lagscale/search-node';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { ...init, headers: { 'content-type': 'application/json' } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

describe('ServerArgs on stdin', () => {
  it('writes the record the server reads: flags, an empty keystore, settings, then the config and logs folders', () => {
    const bytes = Buffer.from(serializeServerArgs({ settings: { 'http.port': '9200', 'node.name': 'é' }, configDir: '/c', logsDir: '/l' }));
    const keystore = 'org.elasticsearch.common.settings.KeyStoreWrapper';
    const expected = Buffer.concat([
      Buffer.from([0, 0, 0, keystore.length]),
      Buffer.from(keystore),
      Buffer.from([0, 0, 0, 7, 0, 0, 0, 0]),
      Buffer.from([2, 9]),
      Buffer.from('http.port'),
      Buffer.from([0, 4]),
      Buffer.from('9200'),
      Buffer.from([9]),
      Buffer.from('node.name'),
      // one UTF-16 unit, written in two bytes
      Buffer.from([0, 1, 0xc3, 0xa9]),
      Buffer.from([2]),
      Buffer.from('/c'),
      Buffer.from([2]),
      Buffer.from('/l'),
    ]);
    expect(bytes.toString('hex')).toBe(expected.toString('hex'));
  });

  it('writes lengths over 127 as a vint, low seven bits first', () => {
    const bytes = Buffer.from(serializeServerArgs({ settings: {}, configDir: 'x'.repeat(300), logsDir: '' }));
    // after the keystore and the zero settings count: 300 = 0b10_0101100 → 0xac 0x02
    const at = bytes.indexOf(Buffer.from('xxx'));
    expect([...bytes.subarray(at - 3, at)]).toEqual([0, 0xac, 0x02]);
  });
});

/**
 * The launcher on real nodes of each tested version: what it resolved, a node that answers `GET /`
 * like Elasticsearch, stops on the shutdown byte, keeps its data through SIGKILL and restart, and
 * stops by itself when the process that started it dies.
 */
describe.each(TESTED_ELASTICSEARCH_VERSIONS)('Elasticsearch %s launcher', (version) => {
  it('resolves the server, the bridge apart from the module path, the modules without jars of lib/, and the stand-ins', async () => {
    const distribution = await resolveElasticsearch({ version });
    const lib = new Set(readdirSync(distribution.libDir));
    expect(lib.has(`elasticsearch-${version}.jar`)).toBe(true);
    expect(lib.has(`elasticsearch-entitlement-bridge-${version}.jar`), 'the bridge is patched into java.base, not on the module path').toBe(false);
    expect(existsSync(distribution.bridgeJar)).toBe(true);
    expect(readdirSync(join(distribution.libDir, 'entitlement-agent'))).toEqual(['lagscale-entitlement-agent.jar']);
    expect(readdirSync(join(distribution.libDir, 'tools', 'ansi-console'))).toEqual(['lagscale-ansi-console.jar']);
    const netty = join(distribution.modulesDir, 'transport-netty4');
    expect(readFileSync(join(netty, 'plugin-descriptor.properties'), 'utf8')).toContain(`elasticsearch.version=${version}`);
    expect(existsSync(join(netty, 'entitlement-policy.yaml'))).toBe(true);
    for (const jar of readdirSync(netty).filter((f) => f.endsWith('.jar'))) expect(lib.has(jar), `transport-netty4/${jar} is in lib/ too`).toBe(false);
    expect(readFileSync(join(distribution.modulesDir, 'rest-root', 'plugin-descriptor.properties'), 'utf8')).toContain(`elasticsearch.version=${version}`);
  }, 180_000);

  it('starts a node that answers GET / as Elasticsearch, keeps its documents through SIGKILL and restart, and stops on the shutdown byte', async () => {
    const home = mkdtempSync(join(tmpdir(), 'lagscale-elasticsearch-test-'));
    const started = Date.now();
    const node = await startElasticsearchNode({ version, dataDir: home });
    const startedIn = Date.now() - started;
    try {
      const root = await json(node.url);
      expect(root.status).toBe(200);
      expect((root.body.version as { number: string; build_flavor: string }).number).toBe(version);
      expect(root.body.tagline).toBe('You Know, for Search');
      const head = await fetch(node.url, { method: 'HEAD' });
      expect(head.status).toBe(200);
      const nodes = await json(`${node.url}/_nodes/_local/plugins`);
      const modules = Object.values(nodes.body.nodes as Record<string, { modules: { name: string }[] }>)[0]?.modules.map((m) => m.name) ?? [];
      expect(modules.sort()).toEqual(['rest-root', 'transport-netty4']);
      if (process.getuid?.() === 0) expect(uidOf(node.pid), 'the node never runs as root').toBe(UNPRIVILEGED_ID);
      const rss = rssMb(node.pid);

      expect((await json(`${node.url}/kept/_doc/1?refresh=true`, { method: 'PUT', body: JSON.stringify({ n: 1 }) })).status).toBe(201);
      const pid = node.pid;
      await node.kill();
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      await node.start();
      expect(node.pid).not.toBe(pid);
      expect((await json(`${node.url}/kept/_doc/1`)).body._source).toEqual({ n: 1 });

      const beforeStop = node.pid;
      const stopping = Date.now();
      await node.stop();
      const stoppedIn = Date.now() - stopping;
      // The shutdown byte ended it: a SIGKILL comes only after a 20 s grace, and the node logged its close.
      expect(stoppedIn).toBeLessThan(15_000);
      expect(readFileSync(join(home, 'logs', 'console.log'), 'utf8')).toMatch(/\] closed\n/);
      expect(existsSync(`/proc/${beforeStop}`)).toBe(false);
      await node.start();
      expect((await json(`${node.url}/kept/_doc/1`)).body._source).toEqual({ n: 1 });
      process.stderr.write(
        `[elasticsearch ${version}] ready in ${(startedIn / 1000).toFixed(1)} s (resolve included when cold), RSS ${rss.toFixed(0)} MB, graceful stop ${stoppedIn} ms\n`,
      );
    } finally {
      await node.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('an Elasticsearch node whose starter dies', () => {
  it('stops by itself: its stdin closes', async () => {
    const home = mkdtempSync(join(tmpdir(), 'lagscale-elasticsearch-orphan-'));
    const script = `import { startElasticsearchNode } from '@lagscale/elasticsearch';
const node = await startElasticsearchNode({ dataDir: ${JSON.stringify(home)} });
process.stdout.write(String(node.pid) + '\\n');
setInterval(() => {}, 1000);`;
    const starter = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    starter.stdout.on('data', (chunk) => {
      out += chunk;
    });
    const pid = await waitFor('the node to start', async () => (/^\d+\n/.test(out) ? Number(out.trim()) : undefined), 180_000, 200);
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    starter.kill('SIGKILL');
    await waitFor('the orphaned node to exit', async () => !existsSync(`/proc/${pid}`), 30_000, 100);
    rmSync(home, { recursive: true, force: true });
  }, 240_000);
});
