/**
 * The indices of the OpenSearch result store, each with an index template holding its explicit
 * mapping (`dynamic: strict`: a field the code does not know is refused, never guessed).
 *
 * One primary shard each: terms aggregations over one shard count exactly (the summaries and
 * facets must equal SQLite's), and a validation store is a few indices of modest size. Replicas
 * default to 0 for a single node; set `replicas` for a cluster.
 */

/** Stored in `_source` only: kept for display, never searched. */
const STORED_TEXT = { type: 'keyword', index: false, doc_values: false } as const;

export type IndexName = 'rule-sets' | 'jobs' | 'results' | 'claims' | 'dlq' | 'dlq-ids';

export const INDEX_NAMES: readonly IndexName[] = ['rule-sets', 'jobs', 'results', 'claims', 'dlq', 'dlq-ids'];

/** Mappings by index; `_meta.schema` is the layout's version, checked at open. */
export const MAPPINGS: Record<IndexName, object> = {
  'rule-sets': {
    properties: {
      name: { type: 'keyword' },
      version: { type: 'long' },
      /** canonical JSON (keys sorted), compared when a version is saved again */
      document: STORED_TEXT,
      createdAt: { type: 'long' },
    },
  },
  jobs: {
    properties: {
      id: { type: 'keyword' },
      ruleSet: { type: 'keyword' },
      ruleSetVersion: { type: 'long' },
      total: { type: 'long' },
      createdAt: { type: 'long' },
      source: { type: 'keyword' },
      uploadSha256: { type: 'keyword' },
    },
  },
  results: {
    properties: {
      jobId: { type: 'keyword' },
      recordNumber: { type: 'long' },
      valid: { type: 'boolean' },
      violationCount: { type: 'integer' },
      /** the record has at least one warning (valid records with warnings are "warnings only") */
      warnings: { type: 'boolean' },
      truncated: { type: 'boolean' },
      record: STORED_TEXT,
      recordOmitted: { type: 'boolean' },
      // nested: a filter on rule, severity, field and text must hold for ONE violation
      violations: {
        type: 'nested',
        properties: {
          ruleId: { type: 'keyword' },
          severity: { type: 'keyword' },
          path: { type: 'keyword' },
          // substring search (`text`) by a case-insensitive wildcard on the keyword; `.words`
          // is the analyzed text for relevance-ranked full-text queries
          message: { type: 'keyword', ignore_above: 8191, fields: { words: { type: 'text' } } },
        },
      },
    },
  },
  claims: {
    properties: {
      jobId: { type: 'keyword' },
      recordNumber: { type: 'long' },
    },
  },
  dlq: {
    properties: {
      id: { type: 'keyword' },
      jobId: { type: 'keyword' },
      recordNumber: { type: 'long' },
      topic: { type: 'keyword' },
      partition: { type: 'integer' },
      offset: { type: 'long' },
      reason: { type: 'text' },
      code: { type: 'keyword' },
      /** base64 of the payload, cut to the cap */
      payload: STORED_TEXT,
      payloadSize: { type: 'long' },
      createdAt: { type: 'long' },
      replayedAt: { type: 'long' },
    },
  },
  // the DLQ's second key: entry id → its (topic, partition, offset) document, read by realtime GET
  'dlq-ids': {
    properties: {
      position: { type: 'keyword' },
    },
  },
};

/** The version of the layout above; a store whose indices say a newer one is refused. */
export const OPENSEARCH_SCHEMA_VERSION = 1;

export function indexTemplate(prefix: string, index: IndexName, replicas: number): object {
  return {
    index_patterns: [`${prefix}-${index}`],
    priority: 100,
    template: {
      settings: { number_of_shards: 1, number_of_replicas: replicas, 'index.refresh_interval': '1s' },
      mappings: { dynamic: 'strict', _meta: { schema: OPENSEARCH_SCHEMA_VERSION }, ...MAPPINGS[index] },
    },
    _meta: { description: `lagscale result store: ${index}`, schema: OPENSEARCH_SCHEMA_VERSION },
  };
}
