import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPENSEARCH_MODULES, resolveOpenSearch, startOpenSearchNode } from '@lagscale/opensearch';
import { describe, expect, it } from 'vitest';

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { ...init, headers: { 'content-type': 'application/json' } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * The launcher on a real node: what it resolved, a node that answers and keeps its data through
 * SIGKILL and restart, and a paused node that answers nothing.
 */
describe('OpenSearch launcher', () => {
  it('resolves the server with one folder per module, each with a descriptor and no jar of lib/', async () => {
    const distribution = await resolveOpenSearch();
    const lib = new Set(readdirSync(distribution.libDir));
    expect(lib.has(`opensearch-${distribution.version}.jar`)).toBe(true);
    for (const module of OPENSEARCH_MODULES) {
      const dir = join(distribution.modulesDir, module.name);
      const descriptor = readFileSync(join(dir, 'plugin-descriptor.properties'), 'utf8');
      expect(descriptor).toContain(`classname=${module.classname}`);
      expect(descriptor).toContain(`opensearch.version=${distribution.version}`);
      for (const jar of readdirSync(dir).filter((f) => f.endsWith('.jar'))) expect(lib.has(jar), `${module.name}/${jar} is in lib/ too`).toBe(false);
    }
  });

  it('starts a node that keeps its documents through SIGKILL and a restart, and answers nothing while paused', async () => {
    const home = mkdtempSync(join(tmpdir(), 'lagscale-opensearch-test-'));
    const node = await startOpenSearchNode({ dataDir: home });
    try {
      const info = await json(node.url);
      expect((info.body.version as { number: string }).number).toBe(node.version);
      const plugins = await (await fetch(`${node.url}/_cat/plugins?h=component`)).text();
      // Modules are not plugins: _cat/plugins lists none, the node's info lists every module.
      expect(plugins.trim()).toBe('');
      const nodes = await json(`${node.url}/_nodes/_local/plugins`);
      const modules = Object.values(nodes.body.nodes as Record<string, { modules: { name: string }[] }>)[0]?.modules.map((m) => m.name) ?? [];
      expect(modules.sort()).toEqual(OPENSEARCH_MODULES.map((m) => m.name).sort());

      expect((await json(`${node.url}/kept/_doc/1?refresh=true`, { method: 'PUT', body: JSON.stringify({ n: 1 }) })).status).toBe(201);
      const pid = node.pid;
      await node.kill();
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      await node.start();
      expect(node.pid).not.toBe(pid);
      expect((await json(`${node.url}/kept/_doc/1`)).body._source).toEqual({ n: 1 });
      await node.restart();
      expect((await json(`${node.url}/kept/_doc/1`)).body._source).toEqual({ n: 1 });

      node.pause();
      const hung = await fetch(node.url, { signal: AbortSignal.timeout(1500) }).then(
        () => 'answered',
        (error: Error) => error.name,
      );
      expect(hung).toBe('TimeoutError');
      node.resume();
      expect((await json(node.url)).status).toBe(200);
    } finally {
      await node.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }, 240_000);
});
