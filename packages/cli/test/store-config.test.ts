import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config-error.js';
import { resolveStoreConfig, storeForChild } from '../src/store.js';

function configError(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('choosing the result store', () => {
  it('takes a node URL with its engine left to the root answer, or named by LAGSCALE_STORE_ENGINE', () => {
    expect(resolveStoreConfig(undefined, undefined, { LAGSCALE_STORE: 'http://es:9200' })).toEqual({ type: 'search-engine', url: ['http://es:9200'] });
    expect(resolveStoreConfig(undefined, 'http://a:9200,http://b:9200', { LAGSCALE_STORE_ENGINE: 'elasticsearch', LAGSCALE_STORE_API_KEY: 'k' })).toEqual({
      type: 'search-engine',
      engine: 'elasticsearch',
      apiKey: 'k',
      url: ['http://a:9200', 'http://b:9200'],
    });
    expect(configError(() => resolveStoreConfig(undefined, 'http://es:9200', { LAGSCALE_STORE_ENGINE: 'solr' }))).toContain(
      'write opensearch or elasticsearch',
    );
  });

  it('names Elasticsearch by LAGSCALE_STORE=elasticsearch with ELASTICSEARCH_URL, ELASTICSEARCH_URL alone, or store.type', () => {
    expect(resolveStoreConfig(undefined, undefined, { LAGSCALE_STORE: 'elasticsearch', ELASTICSEARCH_URL: 'https://es:9200' })).toMatchObject({
      engine: 'elasticsearch',
      url: ['https://es:9200'],
    });
    expect(resolveStoreConfig(undefined, undefined, { ELASTICSEARCH_URL: 'http://es:9200' })).toMatchObject({ engine: 'elasticsearch' });
    expect(resolveStoreConfig({ type: 'elasticsearch', url: 'http://es:9200', apiKey: 'k', tls: { ca: '/ca.pem' } }, undefined, {})).toEqual({
      type: 'search-engine',
      engine: 'elasticsearch',
      url: ['http://es:9200'],
      apiKey: 'k',
      tls: { ca: '/ca.pem' },
    });
    expect(configError(() => resolveStoreConfig(undefined, undefined, { LAGSCALE_STORE: 'elasticsearch' }))).toContain('set ELASTICSEARCH_URL');
    expect(configError(() => resolveStoreConfig({ type: 'elasticsearch', url: 'http://es:9200', apiKey: 'k', username: 'u' }, undefined, {}))).toContain(
      'not both',
    );
    expect(
      configError(() =>
        resolveStoreConfig(undefined, undefined, { LAGSCALE_STORE: 'elasticsearch', ELASTICSEARCH_URL: 'http://es:9200', LAGSCALE_STORE_ENGINE: 'opensearch' }),
      ),
    ).toContain('make them agree');
  });

  it('hands a worker of the local pool the same engine and key', () => {
    const child = storeForChild({ type: 'search-engine', engine: 'elasticsearch', url: ['http://es:9200'], apiKey: 'k', indexPrefix: 'p' });
    expect(child).toEqual({
      args: ['--store', 'http://es:9200'],
      env: { OPENSEARCH_INDEX_PREFIX: 'p', LAGSCALE_STORE_ENGINE: 'elasticsearch', LAGSCALE_STORE_API_KEY: 'k' },
    });
    expect(resolveStoreConfig(undefined, child.args[1], child.env)).toMatchObject({ engine: 'elasticsearch', apiKey: 'k', indexPrefix: 'p' });
  });
});
