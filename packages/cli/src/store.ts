import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { OpenSearchResultStore, type ResultStore, SEARCH_ENGINE_NAMES, type SearchEngine, SqliteResultStore, StoreError } from '@lagscale/validator';
import { ConfigError } from './config-error.js';
import type { StoreSection } from './store-section.js';

/** Where results live: the embedded SQLite file (one host) or a search engine, OpenSearch or Elasticsearch (shared by every host). */
export type StoreConfig =
  | { readonly type: 'sqlite'; readonly path: string }
  | {
      readonly type: 'search-engine';
      /** Set by `store.type`, `LAGSCALE_STORE=opensearch|elasticsearch` or `LAGSCALE_STORE_ENGINE`; else told by the node's root answer. */
      readonly engine?: SearchEngine;
      readonly url: readonly string[];
      readonly username?: string;
      readonly password?: string;
      /** Sent as `Authorization: ApiKey <key>`. */
      readonly apiKey?: string;
      /** PEM files: the CA of the nodes' certificates, a client certificate and key. */
      readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly insecure?: boolean };
      readonly indexPrefix?: string;
      readonly replicas?: number;
    };

export { STORE_SECTION_SCHEMA, type StoreSection } from './store-section.js';

export function defaultStoreFile(cwd = process.cwd()): string {
  return join(cwd, '.lagscale', 'validator.db');
}

function isUrl(value: string): boolean {
  return /^https?:\/\//.test(value);
}

/**
 * The store to use: the `--store` flag (a file, or node URLs), else `LAGSCALE_STORE` (`sqlite`,
 * `opensearch` with `OPENSEARCH_URL`, `elasticsearch` with `ELASTICSEARCH_URL`, a file, or node
 * URLs), else `OPENSEARCH_URL` or `ELASTICSEARCH_URL` alone, else the config file's `store`, else
 * SQLite in `.lagscale/validator.db`. For a search engine: `LAGSCALE_STORE_ENGINE` names it
 * (otherwise the node's root answer or the way it was chosen does), credentials are
 * `OPENSEARCH_USERNAME` and `OPENSEARCH_PASSWORD` or `LAGSCALE_STORE_API_KEY`, and the indices'
 * prefix `OPENSEARCH_INDEX_PREFIX` (the same names for either engine). Mistakes are ConfigErrors
 * naming the setting to fix. With `mayStartNode` (the local stack) a search engine store without
 * a node comes back with no URL: the caller starts a local node.
 */
export function resolveStoreConfig(
  section: StoreSection | undefined,
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  local: { readonly defaultPath?: string; readonly mayStartNode?: boolean } = {},
): StoreConfig {
  const fallbackPath = local.defaultPath ?? defaultStoreFile();
  const fromFile = section === undefined ? undefined : fileStoreConfig(section, fallbackPath);
  const engineFromEnv = env.LAGSCALE_STORE_ENGINE?.trim() ? checkEngine(env.LAGSCALE_STORE_ENGINE.trim(), 'LAGSCALE_STORE_ENGINE') : undefined;
  const searchEngine = (url: string | undefined, what: string, engine?: SearchEngine): StoreConfig => {
    const urls = url === undefined ? (fromFile?.type === 'search-engine' ? fromFile.url : []) : splitUrls(url, what);
    const named = engineFromEnv ?? engine ?? (fromFile?.type === 'search-engine' ? fromFile.engine : undefined);
    if (engineFromEnv !== undefined && engine !== undefined && engineFromEnv !== engine) {
      throw new ConfigError(`LAGSCALE_STORE_ENGINE is ${engineFromEnv} but ${what} asks for ${engine}: make them agree, or leave LAGSCALE_STORE_ENGINE out`);
    }
    if (urls.length === 0 && !local.mayStartNode) {
      const variable = named === 'elasticsearch' ? 'ELASTICSEARCH_URL' : 'OPENSEARCH_URL';
      throw new ConfigError(
        `${what} asks for the ${named === 'elasticsearch' ? 'Elasticsearch' : 'OpenSearch'} store but no node is given: set ${variable} (e.g. http://127.0.0.1:9200) or store.url in the config file`,
      );
    }
    const base = fromFile?.type === 'search-engine' ? fromFile : { type: 'search-engine' as const, url: urls };
    return {
      ...base,
      url: urls,
      ...(named === undefined ? {} : { engine: named }),
      ...(env.OPENSEARCH_USERNAME ? { username: env.OPENSEARCH_USERNAME } : {}),
      ...(env.OPENSEARCH_PASSWORD !== undefined ? { password: env.OPENSEARCH_PASSWORD } : {}),
      ...(env.LAGSCALE_STORE_API_KEY ? { apiKey: env.LAGSCALE_STORE_API_KEY } : {}),
      ...(env.OPENSEARCH_INDEX_PREFIX ? { indexPrefix: checkPrefix(env.OPENSEARCH_INDEX_PREFIX, 'OPENSEARCH_INDEX_PREFIX') } : {}),
    };
  };
  if (flag !== undefined && flag !== '') {
    return isUrl(flag) ? searchEngine(flag, '--store') : { type: 'sqlite', path: flag };
  }
  const chosen = env.LAGSCALE_STORE?.trim();
  if (chosen) {
    if (chosen === 'sqlite') return { type: 'sqlite', path: fromFile?.type === 'sqlite' ? fromFile.path : fallbackPath };
    if (chosen === 'opensearch') return searchEngine(env.OPENSEARCH_URL, 'LAGSCALE_STORE=opensearch', 'opensearch');
    if (chosen === 'elasticsearch') return searchEngine(env.ELASTICSEARCH_URL, 'LAGSCALE_STORE=elasticsearch', 'elasticsearch');
    if (isUrl(chosen)) return searchEngine(chosen, 'LAGSCALE_STORE');
    return { type: 'sqlite', path: chosen };
  }
  if (env.OPENSEARCH_URL && fromFile?.type !== 'sqlite') return searchEngine(env.OPENSEARCH_URL, 'OPENSEARCH_URL');
  if (env.ELASTICSEARCH_URL && fromFile?.type !== 'sqlite') return searchEngine(env.ELASTICSEARCH_URL, 'ELASTICSEARCH_URL', 'elasticsearch');
  if (fromFile?.type === 'search-engine') return searchEngine(undefined, 'config file store.type');
  return fromFile ?? { type: 'sqlite', path: fallbackPath };
}

function checkEngine(value: string, what: string): SearchEngine {
  if (value === 'opensearch' || value === 'elasticsearch') return value;
  throw new ConfigError(`${what}: "${value}" is not a search engine lagscale stores results in; write opensearch or elasticsearch`);
}

function splitUrls(value: string, what: string): string[] {
  const urls = value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  for (const url of urls) {
    if (!isUrl(url)) throw new ConfigError(`${what}: "${url}" is not a search engine node address; write http(s)://host:port`);
  }
  return urls;
}

function checkPrefix(prefix: string, what: string): string {
  if (!/^[a-z0-9][a-z0-9._-]{0,100}$/.test(prefix)) {
    throw new ConfigError(`${what}: "${prefix}" is not a usable index prefix; use lower-case letters, digits, '.', '_' or '-' (not first)`);
  }
  return prefix;
}

/** The cross-field rules the schema cannot say well: which settings go with which type. */
function fileStoreConfig(section: StoreSection, fallbackPath: string): StoreConfig {
  const foreign = (keys: readonly (keyof StoreSection)[]): void => {
    for (const key of keys) {
      if (section[key] !== undefined)
        throw new ConfigError(`config file store.${key}: only for store.type opensearch or elasticsearch, and store.type is ${section.type}`);
    }
  };
  if (section.type === 'sqlite') {
    foreign(['url', 'username', 'password', 'apiKey', 'tls', 'indexPrefix', 'replicas']);
    return { type: 'sqlite', path: section.path ?? fallbackPath };
  }
  if (section.path !== undefined) throw new ConfigError(`config file store.path: only for store.type sqlite; a ${section.type} store is given by store.url`);
  if (section.password !== undefined && section.username === undefined) throw new ConfigError('config file store.password: needs store.username');
  if (section.apiKey !== undefined && section.username !== undefined)
    throw new ConfigError('config file store.apiKey: give store.apiKey or store.username, not both');
  const url = section.url === undefined ? [] : typeof section.url === 'string' ? [section.url] : section.url;
  return {
    type: 'search-engine',
    engine: section.type,
    url,
    ...(section.username === undefined ? {} : { username: section.username }),
    ...(section.password === undefined ? {} : { password: section.password }),
    ...(section.apiKey === undefined ? {} : { apiKey: section.apiKey }),
    ...(section.tls === undefined ? {} : { tls: section.tls }),
    ...(section.indexPrefix === undefined ? {} : { indexPrefix: section.indexPrefix }),
    ...(section.replicas === undefined ? {} : { replicas: section.replicas }),
  };
}

/** A description for logs and banners (never the password). */
export function describeStore(config: StoreConfig): string {
  if (config.type === 'sqlite') return config.path;
  const engine = config.engine === undefined ? 'OpenSearch or Elasticsearch' : SEARCH_ENGINE_NAMES[config.engine];
  return `${engine} ${config.url.join(',')} (indices ${config.indexPrefix ?? 'lagscale'}-*)`;
}

/** `--store` and environment that make a child process (a worker of the local pool) open the same store. */
export function storeForChild(config: StoreConfig): { args: string[]; env: Record<string, string> } {
  if (config.type === 'sqlite') return { args: ['--store', config.path], env: {} };
  return {
    args: ['--store', config.url.join(',')],
    env: {
      ...(config.username === undefined ? {} : { OPENSEARCH_USERNAME: config.username }),
      ...(config.password === undefined ? {} : { OPENSEARCH_PASSWORD: config.password }),
      ...(config.indexPrefix === undefined ? {} : { OPENSEARCH_INDEX_PREFIX: config.indexPrefix }),
      ...(config.engine === undefined ? {} : { LAGSCALE_STORE_ENGINE: config.engine }),
      ...(config.apiKey === undefined ? {} : { LAGSCALE_STORE_API_KEY: config.apiKey }),
    },
  };
}

export interface OpenStoreOptions {
  /** SQLite: checkpoint the WAL in a thread (a worker that writes all the time). */
  readonly backgroundCheckpoint?: boolean;
  /** OpenSearch: how long start-up waits for a node that does not answer yet. Default 60 s. */
  readonly connectWaitMs?: number;
  /**
   * OpenSearch: reads retry as long as writes do, until the store answers (a worker holds its
   * batch through an outage); otherwise a read gives up after 5 s (the API answers 503).
   */
  readonly waitOutOutages?: boolean;
  readonly onAvailabilityChange?: (available: boolean, reason: string) => void;
}

function readPem(path: string | undefined, what: string): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${what}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/**
 * Opens the configured store. Wrong credentials and a bad layout are ConfigErrors (exit 2, the
 * message says what to fix); a node that does not answer within `connectWaitMs` is an error.
 */
export async function openResultStore(config: StoreConfig, options: OpenStoreOptions = {}): Promise<ResultStore> {
  if (config.type === 'sqlite') {
    mkdirSync(dirname(config.path), { recursive: true });
    return SqliteResultStore.open(config.path, { backgroundCheckpoint: options.backgroundCheckpoint === true });
  }
  const tls = config.tls;
  try {
    const store = await OpenSearchResultStore.open({
      url: config.url,
      ...(config.engine === undefined ? {} : { engine: config.engine }),
      ...(config.username === undefined ? {} : { username: config.username, password: config.password ?? '' }),
      ...(config.apiKey === undefined ? {} : { apiKey: config.apiKey }),
      ...(tls === undefined
        ? {}
        : {
            tls: {
              ...(tls.ca === undefined ? {} : { ca: readPem(tls.ca, 'store.tls.ca') }),
              ...(tls.cert === undefined ? {} : { cert: readPem(tls.cert, 'store.tls.cert') }),
              ...(tls.key === undefined ? {} : { key: readPem(tls.key, 'store.tls.key') }),
              ...(tls.insecure === true ? { rejectUnauthorized: false } : {}),
            },
          }),
      ...(config.indexPrefix === undefined ? {} : { indexPrefix: config.indexPrefix }),
      ...(config.replicas === undefined ? {} : { replicas: config.replicas }),
      connectRetryMs: options.connectWaitMs ?? 60_000,
      ...(options.waitOutOutages === true ? { readRetryMs: Number.POSITIVE_INFINITY } : {}),
      ...(options.onAvailabilityChange === undefined ? {} : { onAvailabilityChange: options.onAvailabilityChange }),
    });
    return store;
  } catch (error) {
    if (error instanceof StoreError && (error.code === 'STORE_AUTH_FAILED' || error.code === 'SCHEMA_TOO_NEW' || error.code === 'INVALID_ARGUMENT')) {
      throw new ConfigError(error.message);
    }
    throw error;
  }
}
