export { canonicalJson } from './input-checks.js';
export { OpenSearchResultStore, type OpenSearchResultStoreOptions, SEARCH_ENGINE_NAMES, type SearchEngine } from './opensearch-store.js';
export { MIGRATIONS, type Migration, SCHEMA_VERSION } from './sqlite-migrations.js';
export { SqliteResultStore, type SqliteResultStoreOptions } from './sqlite-store.js';
export * from './store.js';
