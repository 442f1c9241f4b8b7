import { randomBytes } from 'node:crypto';
import { OpenSearchResultStore, type OpenSearchResultStoreOptions, type ResultStore } from '@lagscale/validator';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type {} from '../../../../test-support/global-services.js';
import { refreshedBeforeReads } from './refreshed.js';
import { describeStoreContract, storeError } from './store-contract.js';

const url = inject('openSearchUrl');
const opened: OpenSearchResultStore[] = [];
const prefixes = new Map<ResultStore, string>();

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

/** A store on the shared node under a fresh index prefix (every test its own indices). */
async function openStore(options: Partial<OpenSearchResultStoreOptions> = {}, prefix = `t${randomBytes(5).toString('hex')}`): Promise<OpenSearchResultStore> {
  const store = await OpenSearchResultStore.open({ url, indexPrefix: prefix, ...options });
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

describe('OpenSearch specifics', () => {
  it('creates index templates with strict mappings under its prefix, and opens an existing store again', async () => {
    const store = await openStore({}, 'lagscale-schema-check');
    await store.saveRuleSet('orders', 1, { name: 'orders', version: 1, rules: [] }, 1);
    const response = await fetch(`${url}/_index_template/lagscale-schema-check-*`);
    const body = (await response.json()) as { index_templates: { name: string; index_template: { template: { mappings: { dynamic: string } } } }[] };
    const names = body.index_templates.map((template) => template.name).sort();
    expect(names).toEqual(['claims', 'dlq', 'dlq-ids', 'jobs', 'results', 'rule-sets'].map((index) => `lagscale-schema-check-${index}`).sort());
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

  it('says the store is unavailable, with the address, when nothing answers', async () => {
    const error = await storeError(() => OpenSearchResultStore.open({ url: 'http://127.0.0.1:9', connectRetryMs: 300 }));
    expect(error.code).toBe('STORE_UNAVAILABLE');
    expect(error.message).toContain('http://127.0.0.1:9');
  });

  it('refuses a bad index prefix at open, saying what is allowed', async () => {
    const error = await storeError(() => OpenSearchResultStore.open({ url, indexPrefix: 'Bad Prefix' }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('indexPrefix');
  });
});
