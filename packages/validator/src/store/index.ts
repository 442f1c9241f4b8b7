export { MIGRATIONS, type Migration, SCHEMA_VERSION } from './sqlite-migrations.js';
export { canonicalJson, SqliteResultStore, type SqliteResultStoreOptions } from './sqlite-store.js';
export * from './store.js';
