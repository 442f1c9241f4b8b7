import { randomBytes } from 'node:crypto';
import { OpenSearchResultStore, type OpenSearchResultStoreOptions, type ResultStore, SEARCH_ENGINE_NAMES, type SearchEngine } from '@lagscale/validator';
import { afterEach, describe, expect, it } from 'vitest';
import { startAuthProxy } from './auth-proxy.js';
import { refreshedBeforeReads } from './refreshed.js';
import { describeStoreContract, storeError } from './store-contract.js';

/** The indices (and index templates) a store makes under its prefix. */
const STORE_INDICES = ['claims', 'dlq', 'dlq-ids', 'jobs', 'results', 'rule-sets'];

/**
 * The store on a search engine node (OpenSearch or Elasticsearch): the contract every store keeps,
 * then what only a search engine store does. `nodeUrl` is read when a test runs (a node started
 * in `beforeAll`).
 */
export function describeSearchEngineStore(engine: SearchEngine, nodeUrl: () => string): void {
  const opened: OpenSearchResultStore[] = [];
  const prefixes = new Map<ResultStore, string>();

  const used = new Set<string>();

  // A test's indices and templates are deleted after it: the node's cluster state stays small, so
  // creating the next test's indices does not grow slower with every test (and a node shared with
  // other test files does not fill up with shards).
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    for (const prefix of used) {
      const names = STORE_INDICES.map((index) => `${prefix}-${index}`);
      await fetch(`${nodeUrl()}/${names.join(',')}?ignore_unavailable=true`, { method: 'DELETE' });
      await Promise.all(names.map((name) => fetch(`${nodeUrl()}/_index_template/${name}`, { method: 'DELETE' })));
    }
    used.clear();
  });

  /** A store on the node under a fresh index prefix (every test its own indices). */
  async function openStore(options: Partial<OpenSearchResultStoreOptions> = {}, prefix = `t${randomBytes(5).toString('hex')}`): Promise<OpenSearchResultStore> {
    used.add(prefix);
    const store = await OpenSearchResultStore.open({ url: nodeUrl(), indexPrefix: prefix, ...options });
    opened.push(store);
    return store;
  }

  describeStoreContract({
    async open(options = {}) {
      const prefix = `t${randomBytes(5).toString('hex')}`;
      const store = refreshedBeforeReads(await openStore(options, prefix));
      prefixes.set(store, prefix);
      return store;
    },
    async another(store) {
      const prefix = prefixes.get(store);
      if (prefix === undefined) throw new Error('another(): not a store of this harness');
      return refreshedBeforeReads(await openStore({}, prefix));
    },
  });

  describe(`${SEARCH_ENGINE_NAMES[engine]} specifics`, () => {
    it('creates index templates with strict mappings under its prefix, and opens an existing store again', async () => {
      const store = await openStore({}, 'lagscale-schema-check');
      await store.saveRuleSet('orders', 1, { name: 'orders', version: 1, rules: [] }, 1);
      expect(store.engine).toBe(engine);
      const response = await fetch(`${nodeUrl()}/_index_template/lagscale-schema-check-*`);
      const body = (await response.json()) as { index_templates: { name: string; index_template: { template: { mappings: { dynamic: string } } } }[] };
      const names = body.index_templates.map((template) => template.name).sort();
      expect(names).toEqual(STORE_INDICES.map((index) => `lagscale-schema-check-${index}`).sort());
      for (const template of body.index_templates) expect(template.index_template.template.mappings.dynamic).toBe('strict');
      const again = await openStore({}, 'lagscale-schema-check');
      expect((await again.getRuleSet('orders'))?.version).toBe(1);
    });

    it('makes results searchable within a second without an explicit refresh', async () => {
      const store = await openStore();
      await store.saveRuleSet('orders', 1, { name: 'orders', version: 1, rules: [] }, 1);
      await store.createJob({ id: 'job-1', ruleSet: 'orders', ruleSetVersion: 1, total: null, createdAt: 1, source: 'test' });
      await store.upsertResults([{ jobId: 'job-1', recordNumber: 1, valid: true, violations: [] }]);
      const started = Date.now();
      while ((await store.getJob('job-1'))?.results !== 1) {
        expect(Date.now() - started).toBeLessThan(2500);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // a point read by id is real-time
      expect((await store.getResult('job-1', 1))?.valid).toBe(true);
    });

    it('tells the engine from the root answer, and refuses an engine the node contradicts', async () => {
      const store = await openStore();
      expect(store.engine).toBe(engine);
      expect(store.engineVersion).toMatch(/^\d+\.\d+\.\d+/);
      const other = engine === 'opensearch' ? 'elasticsearch' : 'opensearch';
      const error = await storeError(() => openStore({ engine: other }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(`set store.engine to ${engine}`);
      expect((await openStore({ engine })).engine).toBe(engine);
    });

    it('reaches the node over TLS with a CA, with basic credentials or an API key, and says which setting is wrong', async () => {
      const access = { basic: { username: 'validator', password: 'right-secret' }, apiKey: 'a2V5LWlkOmtleS1zZWNyZXQ=', apiKeyWithoutRoot: 'bGltaXRlZDprZXk=' };
      const proxy = await startAuthProxy(nodeUrl(), access);
      try {
        const tls = { ca: proxy.ca };
        const viaKey = await openStore({ url: proxy.url, tls, apiKey: access.apiKey });
        expect(viaKey.engine).toBe(engine);
        await viaKey.saveRuleSet('orders', 1, { name: 'orders', version: 1, rules: [] }, 1);
        const viaBasic = await openStore({ url: proxy.url, tls, ...access.basic }, viaKey.prefix);
        expect((await viaBasic.getRuleSet('orders'))?.version).toBe(1);

        const wrongKey = await storeError(() => openStore({ url: proxy.url, tls, apiKey: 'd3Jvbmc6a2V5' }));
        expect(wrongKey.code).toBe('STORE_AUTH_FAILED');
        expect(wrongKey.message).toContain('store.apiKey');
        const wrongPassword = await storeError(() => openStore({ url: proxy.url, tls, username: 'validator', password: 'wrong' }));
        expect(wrongPassword.code).toBe('STORE_AUTH_FAILED');
        // No CA: the certificate is refused, and the node is not reached at all.
        const noCa = await storeError(() => openStore({ url: proxy.url, apiKey: access.apiKey, connectRetryMs: 300 }));
        expect(noCa.code).toBe('STORE_UNAVAILABLE');
        expect(noCa.message).toMatch(/certificate/i);

        // A key that may not read GET / needs the engine named.
        const unnamed = await storeError(() => openStore({ url: proxy.url, tls, apiKey: access.apiKeyWithoutRoot }));
        expect(unnamed.code).toBe('STORE_AUTH_FAILED');
        expect(unnamed.message).toContain('set store.engine');
        const named = await openStore({ url: proxy.url, tls, apiKey: access.apiKeyWithoutRoot, engine }, viaKey.prefix);
        expect((await named.getRuleSet('orders'))?.version).toBe(1);
      } finally {
        for (const store of opened.splice(0)) await store.close();
        await proxy.close();
      }
    });

    it('says the store is unavailable, with the address, when nothing answers', async () => {
      const error = await storeError(() => OpenSearchResultStore.open({ url: 'http://127.0.0.1:9', connectRetryMs: 300 }));
      expect(error.code).toBe('STORE_UNAVAILABLE');
      expect(error.message).toContain('http://127.0.0.1:9');
    });

    it('refuses a bad index prefix at open, saying what is allowed', async () => {
      const error = await storeError(() => OpenSearchResultStore.open({ url: nodeUrl(), indexPrefix: 'Bad Prefix' }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain('indexPrefix');
    });
  });
}
