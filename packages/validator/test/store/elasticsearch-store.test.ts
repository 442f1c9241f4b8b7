import { type ElasticsearchNode, startElasticsearchNode, TESTED_ELASTICSEARCH_VERSIONS } from '@lagscale/elasticsearch';
import { afterAll, beforeAll, describe } from 'vitest';
import { describeSearchEngineStore } from './search-store-suite.js';

/** The store contract and the search engine store's own tests on a real node of each tested Elasticsearch version, one node at a time. */
describe.each(TESTED_ELASTICSEARCH_VERSIONS)('the result store on Elasticsearch %s', (version) => {
  let node: ElasticsearchNode | undefined;
  beforeAll(async () => {
    node = await startElasticsearchNode({ version, onProgress: (line) => process.stderr.write(`[elasticsearch] ${line}\n`) });
  }, 240_000);
  afterAll(async () => {
    await node?.stop();
  }, 60_000);

  describeSearchEngineStore('elasticsearch', () => {
    if (node === undefined) throw new Error(`Elasticsearch ${version} did not start`);
    return node.url;
  });
});
