import { createHash } from 'node:crypto';
import { Client, errors } from '@opensearch-project/opensearch';
import type { RuleSetDocument, Severity } from '../rules/rule-set.js';
import type { UniqueClaim } from '../rules/uniqueness.js';
import { cursorInteger, decodeCursor, encodeCursor } from './cursor.js';
import {
  canonicalJson,
  checkDlqInput,
  checkResultInput,
  invalid,
  jobNotFound,
  pageLimit,
  positiveOption,
  requireInteger,
  requireName,
  requireString,
  requireTime,
  searchText,
} from './input-checks.js';
import { INDEX_NAMES, type IndexName, indexTemplate, OPENSEARCH_SCHEMA_VERSION } from './opensearch-indices.js';
import {
  type AddDlqResult,
  type DlqEntry,
  type DlqInput,
  type DlqQuery,
  type FieldCount,
  type Job,
  type JobSummary,
  type NewJob,
  type Page,
  type PageQuery,
  type RejectedResult,
  type ResultFacets,
  type ResultInput,
  type ResultPage,
  type ResultQuery,
  type ResultStore,
  type RuleCount,
  type RuleSetListing,
  type SaveRuleSetResult,
  type SeverityCount,
  type StoredResult,
  type StoredRuleSet,
  type StoredViolation,
  StoreError,
  SUMMARY_FIELD_LIMIT,
  type UpsertOutcome,
} from './store.js';

/** The engines the store speaks to; see the store README for where they are spoken to differently. */
export type SearchEngine = 'opensearch' | 'elasticsearch';

export const SEARCH_ENGINE_NAMES: Readonly<Record<SearchEngine, string>> = { opensearch: 'OpenSearch', elasticsearch: 'Elasticsearch' };

export interface OpenSearchResultStoreOptions {
  /** One node or several of the cluster: `http://127.0.0.1:9200`. */
  readonly url: string | readonly string[];
  /**
   * Which engine the nodes run. Default: told by the node's root answer (`GET /`: OpenSearch says
   * `version.distribution: "opensearch"`, Elasticsearch its tagline and no distribution). Set it when
   * the credentials may not read `GET /` (an Elasticsearch API key without the `monitor` privilege);
   * a root answer that says otherwise is refused.
   */
  readonly engine?: SearchEngine;
  readonly username?: string;
  readonly password?: string;
  /** An API key (the base64 `id:key` Elasticsearch hands out, or OpenSearch's), sent as `Authorization: ApiKey <key>`; not with `username`. */
  readonly apiKey?: string;
  /** For https nodes: the CA (PEM) that signed them; a client certificate and key when the cluster wants one. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly rejectUnauthorized?: boolean };
  /** Indices are `<prefix>-results`, `<prefix>-jobs`, ... Default `lagscale`. */
  readonly indexPrefix?: string;
  /** Replicas of each index. Default 0 (one node); 1 or more on a cluster. */
  readonly replicas?: number;
  /** Records (JSON text) longer than this many UTF-8 bytes are not kept with their result. Default 64 KiB. */
  readonly maxRecordBytes?: number;
  /** DLQ payloads are cut to this many bytes (the size as received is kept). Default 1 MiB. */
  readonly maxDlqPayloadBytes?: number;
  /** One request's time limit. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /**
   * How long a write keeps retrying while the store does not answer (down, overloaded, read-only)
   * before it throws `STORE_UNAVAILABLE`. Default: until the store is closed, so a worker holds
   * its batch (and its Kafka offsets) through an outage instead of dropping it.
   */
  readonly writeRetryMs?: number;
  /** The same for reads (an API request waits this long, then answers 503). Default 5 s. */
  readonly readRetryMs?: number;
  /** How long `open` waits for a node that does not answer yet (a pod started before its store). Default 5 s. */
  readonly connectRetryMs?: number;
  /** Called when the store stops or starts answering, with the reason (for readiness and metrics). */
  readonly onAvailabilityChange?: (available: boolean, reason: string) => void;
}

const DEFAULT_PREFIX = 'lagscale';
const DEFAULT_MAX_RECORD_BYTES = 64 * 1024;
const DEFAULT_MAX_DLQ_PAYLOAD_BYTES = 1024 * 1024;
const RESULTS_CURSOR = 'results';
const JOBS_CURSOR = 'jobs';
const DLQ_CURSOR = 'dlq';
/** Ids longer than this (in UTF-8 bytes) are replaced by their SHA-256; OpenSearch allows 512. */
const MAX_PLAIN_ID_BYTES = 200;
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;
/** Distinct rules (and severities) an aggregation lists; a rule set has far fewer. */
const MAX_RULE_BUCKETS = 10_000;
const NOTHING_REJECTED: UpsertOutcome = { rejected: [] };

interface RuleSetSource {
  name: string;
  version: number;
  document: string;
  createdAt: number;
}

interface JobSource {
  id: string;
  ruleSet: string;
  ruleSetVersion: number;
  total: number | null;
  createdAt: number;
  source: string;
  uploadSha256: string | null;
}

interface ResultSource {
  jobId: string;
  recordNumber: number;
  valid: boolean;
  violationCount: number;
  warnings: boolean;
  truncated: boolean;
  record: string | null;
  recordOmitted: boolean;
  violations: StoredViolation[];
}

interface DlqSource {
  id: string;
  jobId: string | null;
  recordNumber: number | null;
  topic: string;
  partition: number;
  offset: number;
  reason: string;
  code: string;
  payload: string;
  payloadSize: number;
  createdAt: number;
  replayedAt: number | null;
}

/** The root answer (`GET /`) of either engine. */
interface RootAnswer {
  version?: { number?: string; distribution?: string; build_flavor?: string };
  tagline?: string;
}

/** OpenSearch names its distribution; Elasticsearch does not, and keeps its tagline. */
function engineOf(root: RootAnswer): SearchEngine | undefined {
  if (root.version?.distribution === 'opensearch') return 'opensearch';
  if (root.version?.distribution === undefined && typeof root.version?.number === 'string' && root.tagline === 'You Know, for Search') return 'elasticsearch';
  return undefined;
}

interface Hit<T> {
  _id: string;
  _source: T;
  sort?: unknown[];
}

interface SearchBody<T> {
  hits: { total?: { value: number }; hits: Hit<T>[] };
  aggregations?: Record<string, Aggregate>;
}

interface Aggregate {
  doc_count?: number;
  value?: number | null;
  buckets?: Bucket[];
  [name: string]: unknown;
}

interface Bucket {
  key: string | number;
  doc_count: number;
  [name: string]: unknown;
}

interface GetBody<T> {
  found: boolean;
  _source?: T;
}

/** What a bulk answer is cut down to (`filter_path`): the fields `BulkItemAnswer` reads. */
const BULK_ANSWER_FIELDS = 'errors,items.*.status,items.*.error';

interface BulkItemAnswer {
  status: number;
  error?: { type: string; reason: string; caused_by?: { reason?: string } };
}

/** A bulk answer item's one value (keyed by its action), without making an array per item. */
function onlyValue(item: Record<string, BulkItemAnswer>): BulkItemAnswer {
  for (const key in item) return item[key] as BulkItemAnswer;
  throw new Error('a bulk answer item without an action');
}

interface BulkOperation {
  readonly action: 'index' | 'create';
  readonly index: IndexName;
  readonly id: string;
  readonly document: object;
}

type Query = Record<string, unknown>;

/**
 * The validation result store on OpenSearch (or Elasticsearch, through the API both share),
 * shared by every worker and API on any host. Layout and guarantees: `opensearch-indices.ts`
 * and the store README.
 *
 * - **Durable:** a write resolves once OpenSearch acknowledged it, which (with the default
 *   `index.translog.durability: request`) means its translog was synced on every active copy;
 *   the worker commits its Kafka offsets only then.
 * - **Visible:** results, claims and DLQ entries are written without waiting for a refresh (that
 *   would cost up to a second per batch); reads by id are realtime, while counts, summaries,
 *   searches and lists see a write within the refresh interval (1 s). Rule sets and jobs, written
 *   rarely, refresh their own index (`refresh=true`, a small shard), so a job created is listed
 *   at once.
 * - **Idempotent:** results by (job, record number), DLQ entries by (topic, partition, offset),
 *   claims by (job, rule, value); counts are aggregations over those documents, so a redelivered
 *   batch never counts twice.
 */
export class OpenSearchResultStore implements ResultStore {
  readonly prefix: string;
  readonly url: string;
  /** The engine the nodes run, as told by the root answer or the `engine` option. */
  #engine: SearchEngine;
  /** The version the root answer gave ("" when the credentials may not read it). */
  #engineVersion = '';
  readonly #client: Client;
  readonly #maxRecordBytes: number;
  readonly #maxDlqPayloadBytes: number;
  readonly #requestTimeoutMs: number;
  readonly #writeRetryMs: number;
  readonly #readRetryMs: number;
  readonly #connectRetryMs: number;
  /** True while `open` prepares the indices: requests retry for `connectRetryMs`. */
  #connecting = true;
  readonly #onAvailabilityChange: (available: boolean, reason: string) => void;
  readonly #knownJobs = new Set<string>();
  #closed = false;
  #available = true;

  /** Connects, checks credentials and the indices' layout, and creates what is missing. */
  static async open(options: OpenSearchResultStoreOptions): Promise<OpenSearchResultStore> {
    const store = new OpenSearchResultStore(options);
    try {
      await store.#prepareIndices();
      store.#connecting = false;
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  private constructor(options: OpenSearchResultStoreOptions) {
    const nodes = typeof options.url === 'string' ? [options.url] : [...options.url];
    if (nodes.length === 0 || nodes.some((node) => typeof node !== 'string' || !/^https?:\/\/./.test(node))) {
      throw invalid(`store url must be http(s)://host:port (or a list of them), got ${JSON.stringify(options.url)}`);
    }
    this.url = nodes.join(',');
    if (options.engine !== undefined && !(options.engine in SEARCH_ENGINE_NAMES)) {
      throw invalid(`store engine must be "opensearch" or "elasticsearch", got ${JSON.stringify(options.engine)}`);
    }
    this.#engine = options.engine ?? 'opensearch';
    this.#engineGiven = options.engine !== undefined;
    if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey.trim() === ''))
      throw invalid('store apiKey must be a non-empty string');
    if (options.apiKey !== undefined && options.username !== undefined) throw invalid('store apiKey and username are two ways to log in: give one');
    this.prefix = options.indexPrefix ?? DEFAULT_PREFIX;
    // OpenSearch index names: lower case, no spaces or \/*?"<>|,# and not starting with -_+
    if (!/^[a-z0-9][a-z0-9._-]{0,100}$/.test(this.prefix)) {
      throw invalid(`store indexPrefix must be lower-case letters, digits, '.', '_' or '-' (not first), got ${JSON.stringify(this.prefix)}`);
    }
    this.#maxRecordBytes = positiveOption('maxRecordBytes', options.maxRecordBytes, DEFAULT_MAX_RECORD_BYTES);
    this.#maxDlqPayloadBytes = positiveOption('maxDlqPayloadBytes', options.maxDlqPayloadBytes, DEFAULT_MAX_DLQ_PAYLOAD_BYTES);
    this.#requestTimeoutMs = positiveOption('requestTimeoutMs', options.requestTimeoutMs, 30_000);
    this.#writeRetryMs = options.writeRetryMs ?? Number.POSITIVE_INFINITY;
    this.#readRetryMs = options.readRetryMs ?? 5000;
    this.#connectRetryMs = options.connectRetryMs ?? 5000;
    this.#onAvailabilityChange = options.onAvailabilityChange ?? (() => {});
    const replicas = options.replicas ?? 0;
    if (!Number.isInteger(replicas) || replicas < 0) throw invalid(`store replicas must be an integer ≥ 0, got ${String(replicas)}`);
    this.#replicas = replicas;
    this.#client = new Client({
      nodes,
      maxRetries: 0,
      requestTimeout: this.#requestTimeoutMs,
      ...(options.username === undefined ? {} : { auth: { username: options.username, password: options.password ?? '' } }),
      ...(options.apiKey === undefined ? {} : { headers: { authorization: `ApiKey ${options.apiKey.trim()}` } }),
      ...(options.tls === undefined ? {} : { ssl: { ...options.tls } }),
    });
  }

  readonly #replicas: number;
  readonly #engineGiven: boolean;

  /** The engine the nodes run: `opensearch` or `elasticsearch`. */
  get engine(): SearchEngine {
    return this.#engine;
  }

  /** The engine's version from its root answer ("" when the credentials may not read it). */
  get engineVersion(): string {
    return this.#engineVersion;
  }

  /** "OpenSearch at http://…" or "Elasticsearch at http://…", for messages. */
  get #where(): string {
    return `${SEARCH_ENGINE_NAMES[this.#engine]} at ${this.url}`;
  }

  /** False while the store does not answer (writes are being retried). */
  get available(): boolean {
    return this.#available;
  }

  /**
   * One health request, not retried: null when the cluster answers and takes writes, else why not
   * (for the autoscaler's bottleneck rule and readiness probes).
   */
  async ping(timeoutMs = 2000): Promise<string | null> {
    this.#open();
    try {
      const response = await this.#client.transport.request(
        { method: 'GET', path: `/_cluster/health/${this.#index('results')}`, querystring: { timeout: '1s' } },
        { maxRetries: 0, requestTimeout: timeoutMs },
      );
      const body = response.body as { status?: string };
      const blocks = await this.#client.transport.request(
        { method: 'GET', path: `/${this.#index('results')}/_settings/index.blocks.*`, querystring: { flat_settings: 'true' } },
        { maxRetries: 0, requestTimeout: timeoutMs },
      );
      const settings = Object.values(blocks.body as Record<string, { settings?: Record<string, string> }>)[0]?.settings ?? {};
      const blocked = Object.entries(settings).find(([key, value]) => key !== 'index.blocks.read' && value === 'true');
      if (body.status === 'red') return `${this.#where}: ${this.#index('results')} is red`;
      if (blocked) return `${this.#where}: ${this.#index('results')} has ${blocked[0]}`;
      return null;
    } catch (error) {
      return `${this.#where} does not answer: ${classify(error).reason}`;
    }
  }

  /** Makes every write so far visible to counts and searches now (tests; an operator's "show me"). */
  async refresh(): Promise<void> {
    await this.#call('refresh the indices', { method: 'POST', path: `/${this.#indexPattern()}/_refresh` }, 'read');
  }

  // ---- rule sets ----

  async saveRuleSet(name: string, version: number, document: RuleSetDocument, createdAt: number): Promise<SaveRuleSetResult> {
    this.#open();
    requireName('rule set name', name);
    requireInteger('rule set version', version, 1);
    requireTime('createdAt', createdAt);
    if (typeof document !== 'object' || document === null || Array.isArray(document))
      throw invalid(`rule set "${name}" version ${version}: the document must be a JSON object`);
    if (document.name !== name || document.version !== version) {
      throw invalid(
        `rule set saved as "${name}" version ${version} but its document says ${JSON.stringify(document.name)} version ${JSON.stringify(document.version)}: they must agree`,
      );
    }
    const text = canonicalJson(document);
    const id = docId(name, version);
    const source: RuleSetSource = { name, version, document: text, createdAt };
    const created = await this.#create('save a rule set', 'rule-sets', id, source, true);
    if (created) return { ruleSet: toStoredRuleSet(source), created: true };
    const existing = await this.#get<RuleSetSource>('read a rule set', 'rule-sets', id);
    if (existing === undefined)
      throw new StoreError('STORE_UNAVAILABLE', `rule set "${name}" version ${version} was refused as existing but cannot be read back`);
    if (existing.document !== text) {
      const latest = (await this.getRuleSet(name))?.version ?? version;
      throw new StoreError(
        'RULE_SET_VERSION_CHANGED',
        `rule set "${name}" version ${version} already exists with a different document, and versions are immutable: save the change as version ${latest + 1}`,
      );
    }
    return { ruleSet: toStoredRuleSet(existing), created: false };
  }

  async getRuleSet(name: string, version?: number): Promise<StoredRuleSet | undefined> {
    this.#open();
    if (version !== undefined) {
      const source = await this.#get<RuleSetSource>('read a rule set', 'rule-sets', docId(name, version));
      return source === undefined ? undefined : toStoredRuleSet(source);
    }
    const found = await this.#search<RuleSetSource>('read the latest rule set', 'rule-sets', {
      size: 1,
      query: { term: { name } },
      sort: [{ version: 'desc' }],
    });
    const hit = found.hits.hits[0];
    return hit === undefined ? undefined : toStoredRuleSet(hit._source);
  }

  async listRuleSets(): Promise<RuleSetListing[]> {
    this.#open();
    const listings: RuleSetListing[] = [];
    let current: { name: string; versions: number[]; updatedAt: number } | undefined;
    for await (const hit of this.#scan<Pick<RuleSetSource, 'name' | 'version' | 'createdAt'>>('list rule sets', 'rule-sets', { match_all: {} }, [
      { name: 'asc' },
      { version: 'asc' },
    ])) {
      const row = hit._source;
      if (current?.name !== row.name) {
        if (current !== undefined) listings.push(toListing(current));
        current = { name: row.name, versions: [], updatedAt: row.createdAt };
      }
      current.versions.push(row.version);
      current.updatedAt = row.createdAt;
    }
    if (current !== undefined) listings.push(toListing(current));
    return listings;
  }

  // ---- jobs ----

  async createJob(job: NewJob): Promise<Job> {
    this.#open();
    requireName('job id', job.id);
    requireName('rule set name', job.ruleSet);
    requireInteger('rule set version', job.ruleSetVersion, 1);
    if (job.total !== null) requireInteger('total', job.total, 0);
    requireTime('createdAt', job.createdAt);
    if (typeof job.source !== 'string') throw invalid('job source must be a string');
    const same = async (): Promise<Job | undefined> => {
      const existing = await this.#get<JobSource>('read a job', 'jobs', docId(job.id));
      if (existing === undefined) return undefined;
      if (existing.ruleSet !== job.ruleSet || existing.ruleSetVersion !== job.ruleSetVersion || existing.source !== job.source) {
        throw new StoreError(
          'JOB_EXISTS',
          `job "${job.id}" already exists for rule set "${existing.ruleSet}" version ${existing.ruleSetVersion} from ${existing.source}: use another job id`,
        );
      }
      return (await this.#withCounters([existing]))[0];
    };
    const existing = await same();
    if (existing !== undefined) return existing;
    if ((await this.#get<RuleSetSource>('read a rule set', 'rule-sets', docId(job.ruleSet, job.ruleSetVersion))) === undefined) {
      throw new StoreError('RULE_SET_NOT_FOUND', `job "${job.id}": rule set "${job.ruleSet}" version ${job.ruleSetVersion} is not stored: save it first`);
    }
    const source: JobSource = { ...pickJob(job), uploadSha256: null };
    if (!(await this.#create('create a job', 'jobs', docId(job.id), source, true))) {
      // created meanwhile by another API: the same rules as above
      return (await same()) as Job;
    }
    this.#knownJobs.add(job.id);
    return toJob(source, 0, 0, 0);
  }

  async setJobTotal(id: string, total: number, uploadSha256?: string): Promise<void> {
    this.#open();
    requireInteger('total', total, 0);
    if (uploadSha256 !== undefined && !/^[0-9a-f]{64}$/.test(uploadSha256)) throw invalid('uploadSha256 must be 64 lower-case hex digits');
    const existing = await this.#get<JobSource>('read a job', 'jobs', docId(id));
    if (existing === undefined) throw jobNotFound([id]);
    // never below the results stored (a retried upload that read fewer records than an earlier attempt)
    const counted = await this.#search<never>('count a job', 'results', { size: 0, track_total_hits: true, query: { term: { jobId: id } } });
    const stored = counted.hits.total?.value ?? 0;
    await this.#call(
      'set a job total',
      {
        method: 'POST',
        path: `/${this.#index('jobs')}/_update/${encodeURIComponent(docId(id))}`,
        body: { doc: { total: Math.max(total, stored), uploadSha256: uploadSha256 ?? existing.uploadSha256 } },
        querystring: { retry_on_conflict: 3 },
      },
      'write',
    );
  }

  async getJob(id: string): Promise<Job | undefined> {
    this.#open();
    const source = await this.#get<JobSource>('read a job', 'jobs', docId(id));
    if (source === undefined) return undefined;
    this.#knownJobs.add(id);
    return (await this.#withCounters([source]))[0];
  }

  async listJobs(query: PageQuery): Promise<Page<Job>> {
    this.#open();
    const limit = pageLimit(query.limit);
    let after: unknown[] | undefined;
    if (query.cursor !== undefined) {
      const position = decodeCursor(JOBS_CURSOR, query.cursor);
      const createdAt = cursorInteger(JOBS_CURSOR, position, 'c', query.cursor);
      if (typeof position.i !== 'string') throw new StoreError('INVALID_CURSOR', 'the jobs cursor has no job id: pass back the nextCursor unchanged');
      after = [createdAt, position.i];
    }
    const found = await this.#search<JobSource>('list jobs', 'jobs', {
      size: limit + 1,
      query: { match_all: {} },
      sort: [{ createdAt: 'desc' }, { id: 'desc' }],
      ...(after === undefined ? {} : { search_after: after }),
    });
    const hits = found.hits.hits;
    const more = hits.length > limit;
    const page = (more ? hits.slice(0, limit) : hits).map((hit) => hit._source);
    const last = page.at(-1);
    return {
      items: await this.#withCounters(page),
      nextCursor: more && last !== undefined ? encodeCursor(JOBS_CURSOR, { c: last.createdAt, i: last.id }) : null,
    };
  }

  // ---- results ----

  /**
   * One bulk request per batch; items the node could not take for a while (429, 5xx, a read-only
   * block) are sent again with backoff until they are taken or `writeRetryMs` passes. An item
   * refused for what it holds (a mapping error) is returned in `rejected`, for the DLQ.
   */
  async upsertResults(batch: readonly ResultInput[]): Promise<UpsertOutcome> {
    this.#open();
    if (!Array.isArray(batch)) throw invalid('upsertResults takes an array of results');
    if (batch.length === 0) return NOTHING_REJECTED;
    batch.forEach(checkResultInput);
    await this.#requireJobs(batch.map((result) => result.jobId));
    const operations = batch.map(
      (result): BulkOperation => ({
        action: 'index',
        index: 'results',
        id: docId(result.jobId, result.recordNumber),
        document: this.#resultSource(result),
      }),
    );
    const answers = await this.#bulk('store results', operations, false);
    const rejected: RejectedResult[] = [];
    answers.forEach((answer, index) => {
      if (answer.status >= 300) rejected.push({ index, reason: `the result store refused the result: ${itemReason(answer)}` });
    });
    return rejected.length === 0 ? NOTHING_REJECTED : { rejected };
  }

  async searchResults(query: ResultQuery): Promise<ResultPage> {
    this.#open();
    const limit = pageLimit(query.limit);
    await this.#requireJobs([query.jobId]);
    let after: number | undefined;
    if (query.cursor !== undefined) {
      const position = decodeCursor(RESULTS_CURSOR, query.cursor);
      if (position.j !== query.jobId) throw new StoreError('INVALID_CURSOR', `the cursor belongs to a search of another job, not "${query.jobId}"`);
      after = cursorInteger(RESULTS_CURSOR, position, 'r', query.cursor);
    }
    const violation = violationConditions(query);
    if (query.valid !== undefined && typeof query.valid !== 'boolean') throw invalid('valid must be true or false');
    const filter: Query[] = [{ term: { jobId: query.jobId } }];
    if (query.valid !== undefined) filter.push({ term: { valid: query.valid } });
    if (violation.length > 0) filter.push({ nested: { path: 'violations', query: { bool: { filter: violation } } } });
    const facets = query.facets !== false;
    const found = await this.#search<ResultSource>('search results', 'results', {
      size: limit + 1,
      track_total_hits: facets,
      query: { bool: { filter } },
      sort: [{ recordNumber: 'asc' }],
      ...(after === undefined ? {} : { search_after: [after] }),
      ...(facets
        ? {
            aggs: {
              v: {
                nested: { path: 'violations' },
                aggs: { m: { filter: violation.length > 0 ? { bool: { filter: violation } } : { match_all: {} }, aggs: countAggs() } },
              },
            },
          }
        : {}),
    });
    const hits = found.hits.hits;
    const more = hits.length > limit;
    const items = (more ? hits.slice(0, limit) : hits).map((hit) => toStoredResult(hit._source));
    const last = items.at(-1);
    const nextCursor = more && last !== undefined ? encodeCursor(RESULTS_CURSOR, { j: query.jobId, r: last.recordNumber }) : null;
    if (!facets) return { items, nextCursor };
    const counts = ((found.aggregations?.v as Aggregate | undefined)?.m ?? {}) as Aggregate;
    const result: ResultFacets = { records: found.hits.total?.value ?? 0, byRule: ruleCounts(counts), bySeverity: severityCounts(counts) };
    return { items, nextCursor, facets: result };
  }

  async getResult(jobId: string, recordNumber: number): Promise<StoredResult | undefined> {
    this.#open();
    requireInteger('recordNumber', recordNumber, 0);
    await this.#requireJobs([jobId]);
    const source = await this.#get<ResultSource>('read a result', 'results', docId(jobId, recordNumber));
    return source === undefined ? undefined : toStoredResult(source);
  }

  async jobSummary(jobId: string): Promise<JobSummary | undefined> {
    this.#open();
    if ((await this.#get<JobSource>('read a job', 'jobs', docId(jobId))) === undefined) return undefined;
    const found = await this.#search<never>('summarize a job', 'results', {
      size: 0,
      track_total_hits: true,
      query: { term: { jobId } },
      aggs: {
        valid: { filter: { term: { valid: true } } },
        warningsOnly: { filter: { bool: { filter: [{ term: { valid: true } }, { term: { warnings: true } }] } } },
        truncated: { filter: { term: { truncated: true } } },
        violations: { sum: { field: 'violationCount' } },
        v: {
          nested: { path: 'violations' },
          aggs: {
            ...countAggs(),
            paths: {
              terms: { field: 'violations.path', size: SUMMARY_FIELD_LIMIT + 1, order: [{ _count: 'desc' }, { _key: 'asc' }] },
              aggs: { records: { reverse_nested: {} } },
            },
          },
        },
      },
    });
    const aggs = found.aggregations ?? {};
    const records = found.hits.total?.value ?? 0;
    const valid = aggs.valid?.doc_count ?? 0;
    const nested = (aggs.v ?? {}) as Aggregate;
    const paths = ((nested.paths as Aggregate | undefined)?.buckets ?? []).map(
      (bucket): FieldCount => ({ path: String(bucket.key), records: reverseCount(bucket), violations: bucket.doc_count }),
    );
    return {
      jobId,
      records,
      valid,
      invalid: records - valid,
      warningsOnly: aggs.warningsOnly?.doc_count ?? 0,
      truncated: aggs.truncated?.doc_count ?? 0,
      violations: Math.round(aggs.violations?.value ?? 0),
      byRule: ruleCounts(nested),
      byField: paths.slice(0, SUMMARY_FIELD_LIMIT),
      byFieldTruncated: paths.length > SUMMARY_FIELD_LIMIT,
      bySeverity: severityCounts(nested),
    };
  }

  // ---- dead-letter queue ----

  async addDlq(entry: DlqInput): Promise<AddDlqResult> {
    const [added] = await this.addDlqBatch([entry]);
    return added as AddDlqResult;
  }

  /**
   * Entries already stored for their (topic, partition, offset) answer their first id. An id
   * already used for another position fails the whole batch with `DLQ_ID_CONFLICT` before
   * anything is written. The rest is one bulk request, retried like results.
   */
  async addDlqBatch(entries: readonly DlqInput[]): Promise<AddDlqResult[]> {
    this.#open();
    if (!Array.isArray(entries)) throw invalid('addDlqBatch takes an array of DLQ entries');
    if (entries.length === 0) return [];
    entries.forEach(checkDlqInput);
    const positions = entries.map((entry) => docId(entry.topic, entry.partition, entry.offset));
    const stored = await this.#mget<DlqSource>('read DLQ entries', 'dlq', positions);
    const owners = await this.#mget<{ position: string }>(
      'read DLQ ids',
      'dlq-ids',
      entries.map((entry) => entry.id),
    );
    for (const [i, entry] of entries.entries()) {
      const owner = owners[i];
      if (stored[i] === undefined && owner !== undefined && owner.position !== positions[i]) {
        const other = await this.#get<DlqSource>('read a DLQ entry', 'dlq', owner.position);
        const where = other === undefined ? 'another message' : `${other.topic}/${other.partition}@${other.offset}`;
        throw new StoreError(
          'DLQ_ID_CONFLICT',
          `DLQ entry "${entry.id}" already exists for ${where}, not ${entry.topic}/${entry.partition}@${entry.offset}: use a new id`,
        );
      }
    }
    const fresh = new Map<string, number>(); // position → index of its first entry in the batch
    entries.forEach((_entry, i) => {
      if (stored[i] === undefined && !fresh.has(positions[i] as string)) fresh.set(positions[i] as string, i);
    });
    const operations: BulkOperation[] = [];
    for (const [position, i] of fresh) {
      const entry = entries[i] as DlqInput;
      operations.push({ action: 'create', index: 'dlq-ids', id: entry.id, document: { position } });
      operations.push({ action: 'create', index: 'dlq', id: position, document: this.#dlqSource(entry) });
    }
    const answers = await this.#bulk('store DLQ entries', operations, false);
    const lost = answers.filter((answer) => answer.status >= 300 && answer.status !== 409);
    if (lost.length > 0) throw new StoreError('STORE_UNAVAILABLE', `the result store refused DLQ entries: ${itemReason(lost[0] as BulkItemAnswer)}`);
    // a position taken meanwhile by another worker (409): its entry answers
    const raced = [...fresh].filter((_, k) => answers[2 * k + 1]?.status === 409).map(([position]) => position);
    const racedSources = raced.length === 0 ? [] : await this.#mget<DlqSource>('read DLQ entries', 'dlq', raced);
    const racedIds = new Map(raced.map((position, k) => [position, racedSources[k]?.id]));
    return entries.map((entry, i): AddDlqResult => {
      const position = positions[i] as string;
      const first = stored[i]?.id ?? racedIds.get(position);
      if (first !== undefined) return { id: first, created: false };
      const firstInBatch = entries[fresh.get(position) as number] as DlqInput;
      return firstInBatch === entry ? { id: entry.id, created: true } : { id: firstInBatch.id, created: false };
    });
  }

  async listDlq(query: DlqQuery): Promise<Page<DlqEntry>> {
    this.#open();
    const limit = pageLimit(query.limit);
    let after: unknown[] | undefined;
    if (query.cursor !== undefined) {
      const position = decodeCursor(DLQ_CURSOR, query.cursor);
      const createdAt = cursorInteger(DLQ_CURSOR, position, 'c', query.cursor);
      if (typeof position.i !== 'string') throw new StoreError('INVALID_CURSOR', 'the DLQ cursor has no entry id: pass back the nextCursor unchanged');
      after = [createdAt, position.i];
    }
    const found = await this.#search<DlqSource>('list the DLQ', 'dlq', {
      size: limit + 1,
      query: query.jobId === undefined ? { match_all: {} } : { term: { jobId: query.jobId } },
      sort: [{ createdAt: 'desc' }, { id: 'desc' }],
      ...(after === undefined ? {} : { search_after: after }),
    });
    const hits = found.hits.hits;
    const more = hits.length > limit;
    const page = (more ? hits.slice(0, limit) : hits).map((hit) => hit._source);
    const last = page.at(-1);
    return { items: page.map(toDlqEntry), nextCursor: more && last !== undefined ? encodeCursor(DLQ_CURSOR, { c: last.createdAt, i: last.id }) : null };
  }

  async getDlq(id: string): Promise<DlqEntry | undefined> {
    this.#open();
    const found = await this.#dlqById(id);
    return found === undefined ? undefined : toDlqEntry(found.source);
  }

  async markDlqReplayed(id: string, at: number): Promise<void> {
    this.#open();
    requireTime('at', at);
    const found = await this.#dlqById(id);
    if (found === undefined) throw new StoreError('DLQ_NOT_FOUND', `DLQ entry "${id}" does not exist`);
    await this.#call(
      'mark a DLQ entry replayed',
      { method: 'POST', path: `/${this.#index('dlq')}/_update/${encodeURIComponent(found.position)}`, body: { doc: { replayedAt: at } } },
      'write',
    );
  }

  // ---- uniqueness ----

  /**
   * First writer wins: each claim is a `create` of the document (job, rule, value) holding the
   * record number, so of two workers claiming one value exactly one succeeds; the other reads the
   * owner back (a realtime GET) and answers from it. One bulk request for the batch.
   */
  async claimUnique(jobId: string, claims: readonly UniqueClaim[]): Promise<boolean[]> {
    this.#open();
    await this.#requireJobs([jobId]);
    if (claims.length === 0) return [];
    const ids = claims.map((claim) => docId(jobId, claim.ruleId, claim.key));
    const answers = await this.#bulk(
      'claim unique values',
      claims.map(
        (claim, i): BulkOperation => ({ action: 'create', index: 'claims', id: ids[i] as string, document: { jobId, recordNumber: claim.recordNumber } }),
      ),
      false,
    );
    const refused = answers.find((answer) => answer.status >= 300 && answer.status !== 409);
    if (refused !== undefined) throw new StoreError('STORE_UNAVAILABLE', `the result store refused a uniqueness claim: ${itemReason(refused)}`);
    const taken = [...new Set(ids.filter((_, i) => answers[i]?.status === 409))];
    const owners = new Map<string, number | undefined>();
    if (taken.length > 0) {
      const sources = await this.#mget<{ recordNumber: number }>('read unique owners', 'claims', taken);
      taken.forEach((id, k) => {
        owners.set(id, sources[k]?.recordNumber);
      });
    }
    return claims.map((claim, i) => (answers[i]?.status === 409 ? owners.get(ids[i] as string) !== claim.recordNumber : false));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }

  // ---- internals ----

  #open(): void {
    if (this.#closed) throw new StoreError('STORE_CLOSED', `result store ${this.url} (${this.prefix}) is closed`);
  }

  #index(name: IndexName): string {
    return `${this.prefix}-${name}`;
  }

  #indexPattern(): string {
    return INDEX_NAMES.map((name) => this.#index(name)).join(',');
  }

  /** Tells the engine from the root answer; one that contradicts a given `engine` is refused. */
  async #identifyEngine(): Promise<void> {
    const root = await this.#call<RootAnswer>('connect', { method: 'GET', path: '/' }, 'read', [403]);
    if (root.status === 403) {
      if (this.#engineGiven) return;
      throw new StoreError(
        'STORE_AUTH_FAILED',
        `${this.url} does not let these credentials read its root answer (403), which tells OpenSearch from Elasticsearch: set store.engine (LAGSCALE_STORE_ENGINE) to opensearch or elasticsearch, or grant the monitor privilege`,
      );
    }
    const detected = engineOf(root.body);
    if (detected === undefined) {
      throw invalid(
        `${this.url} answered GET / like neither OpenSearch nor Elasticsearch (${JSON.stringify(root.body).slice(0, 200)}): point store.url at a node of one of them`,
      );
    }
    if (this.#engineGiven && detected !== this.#engine) {
      throw invalid(
        `store engine is ${this.#engine} but ${this.url} is ${SEARCH_ENGINE_NAMES[detected]} ${root.body.version?.number ?? ''}: set store.engine to ${detected}, or leave it out to detect it`,
      );
    }
    this.#engine = detected;
    this.#engineVersion = root.body.version?.number ?? '';
  }

  async #prepareIndices(): Promise<void> {
    await this.#identifyEngine();
    for (const name of INDEX_NAMES) {
      await this.#call(
        'put an index template',
        { method: 'PUT', path: `/_index_template/${this.#index(name)}`, body: indexTemplate(this.prefix, name, this.#replicas) },
        'write',
      );
      const exists = await this.#call('look for an index', { method: 'HEAD', path: `/${this.#index(name)}` }, 'read', [404]);
      if (exists.status === 404) {
        await this.#call('create an index', { method: 'PUT', path: `/${this.#index(name)}` }, 'write', [400]);
      } else {
        const mapping = await this.#call<Record<string, { mappings?: { _meta?: { schema?: number } } }>>(
          'read an index mapping',
          { method: 'GET', path: `/${this.#index(name)}/_mapping` },
          'read',
        );
        const schema = Object.values(mapping.body)[0]?.mappings?._meta?.schema ?? 0;
        if (schema > OPENSEARCH_SCHEMA_VERSION) {
          throw new StoreError(
            'SCHEMA_TOO_NEW',
            `index ${this.#index(name)} has layout ${schema}, newer than this lagscale's ${OPENSEARCH_SCHEMA_VERSION}: upgrade lagscale, or use another indexPrefix`,
          );
        }
      }
    }
    await this.#call(
      'wait for the indices',
      { method: 'GET', path: `/_cluster/health/${this.#indexPattern()}`, querystring: { wait_for_status: 'yellow', timeout: '30s' } },
      'read',
    );
  }

  /**
   * One request, retried while the store does not answer (connection refused or timed out, 429,
   * 502–504, a cluster block such as a read-only index) for `writeRetryMs` or `readRetryMs`.
   * Statuses in `accept` are answers, not errors.
   */
  async #call<T>(
    what: string,
    params: { method: string; path: string; body?: object; bulkBody?: Buffer; querystring?: Record<string, unknown> },
    kind: 'read' | 'write',
    accept: readonly number[] = [],
  ): Promise<{ status: number; body: T }> {
    const deadline = Date.now() + (this.#connecting ? this.#connectRetryMs : kind === 'write' ? this.#writeRetryMs : this.#readRetryMs);
    for (let attempt = 0; ; attempt++) {
      this.#open();
      let reason: string;
      try {
        const response = await this.#client.transport.request(params, { ignore: [...accept], maxRetries: 0 });
        this.#setAvailable(true, 'answering');
        return { status: response.statusCode ?? 0, body: response.body as T };
      } catch (error) {
        const failure = classify(error);
        if (failure.kind === 'auth') {
          throw new StoreError(
            'STORE_AUTH_FAILED',
            `${this.#where} refused to ${what}: ${failure.reason}; check store.username and store.password, or store.apiKey (or the TLS client certificate), and their permissions on ${this.prefix}-*`,
          );
        }
        if (failure.kind === 'fatal') throw new Error(`${this.#where} could not ${what}: ${failure.reason}`);
        reason = failure.reason;
      }
      this.#setAvailable(false, reason);
      if (Date.now() >= deadline || this.#closed) {
        throw new StoreError('STORE_UNAVAILABLE', `${this.#where} did not ${what}: ${reason}; check that the node is up and has disk space`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt, Math.max(0, deadline - Date.now()))));
    }
  }

  #setAvailable(available: boolean, reason: string): void {
    if (available === this.#available) return;
    this.#available = available;
    this.#onAvailabilityChange(available, reason);
  }

  /**
   * A bulk request; items that failed for a while (429, 5xx, a block) are sent again with backoff,
   * the others' answers kept. Answers in the order of `operations`.
   */
  async #bulk(what: string, operations: readonly BulkOperation[], refresh: boolean): Promise<BulkItemAnswer[]> {
    const answers: BulkItemAnswer[] = new Array(operations.length);
    let pending = operations.map((_, i) => i);
    const deadline = Date.now() + this.#writeRetryMs;
    for (let attempt = 0; pending.length > 0; attempt++) {
      // The NDJSON body is written here, one buffer, and the answer holds only each item's status and
      // error (filter_path): the full answer repeats index, id, version and shards per item, and
      // reading it cost the worker more than writing the documents.
      // An action line's head is the same for every item of one action and index: made once.
      const heads = new Map<string, string>();
      let text = '';
      for (const i of pending) {
        const operation = operations[i] as BulkOperation;
        const key = `${operation.action} ${operation.index}`;
        let head = heads.get(key);
        if (head === undefined) {
          head = `{"${operation.action}":{"_index":${JSON.stringify(this.#index(operation.index))},"_id":`;
          heads.set(key, head);
        }
        text += `${head}${JSON.stringify(operation.id)}}}\n${JSON.stringify(operation.document)}\n`;
      }
      // As bytes: the client measures a string body for its Content-Length, one more pass over it.
      const bulkBody = Buffer.from(text, 'utf8');
      const response = await this.#call<{ errors: boolean; items: Record<string, BulkItemAnswer>[] }>(
        what,
        { method: 'POST', path: '/_bulk', bulkBody, querystring: { refresh: String(refresh), filter_path: BULK_ANSWER_FIELDS } },
        'write',
      );
      const again: number[] = [];
      const items = response.body.items;
      for (let k = 0; k < items.length; k++) {
        const answer = onlyValue(items[k] as Record<string, BulkItemAnswer>);
        const i = pending[k] as number;
        answers[i] = answer;
        if (retryableItem(answer)) again.push(i);
      }
      pending = again;
      if (pending.length > 0) {
        const reason = itemReason(answers[pending[0] as number] as BulkItemAnswer);
        this.#setAvailable(false, reason);
        if (Date.now() >= deadline || this.#closed) throw new StoreError('STORE_UNAVAILABLE', `${this.#where} did not ${what}: ${reason}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** attempt)));
      }
    }
    return answers;
  }

  /** True when created, false when the id exists already. */
  async #create(what: string, index: IndexName, id: string, document: object, refresh: boolean): Promise<boolean> {
    const response = await this.#call(
      what,
      { method: 'PUT', path: `/${this.#index(index)}/_create/${encodeURIComponent(id)}`, body: document, querystring: { refresh: String(refresh) } },
      'write',
      [409],
    );
    return response.status !== 409;
  }

  async #get<T>(what: string, index: IndexName, id: string): Promise<T | undefined> {
    const response = await this.#call<GetBody<T>>(what, { method: 'GET', path: `/${this.#index(index)}/_doc/${encodeURIComponent(id)}` }, 'read', [404]);
    return response.status === 404 || !response.body.found ? undefined : response.body._source;
  }

  async #mget<T>(what: string, index: IndexName, ids: readonly string[]): Promise<(T | undefined)[]> {
    if (ids.length === 0) return [];
    const response = await this.#call<{ docs: GetBody<T>[] }>(what, { method: 'POST', path: `/${this.#index(index)}/_mget`, body: { ids } }, 'read');
    return response.body.docs.map((doc) => (doc.found ? doc._source : undefined));
  }

  async #search<T>(what: string, index: IndexName, body: object): Promise<SearchBody<T>> {
    const response = await this.#call<SearchBody<T>>(what, { method: 'POST', path: `/${this.#index(index)}/_search`, body }, 'read');
    return response.body;
  }

  /** Every hit of a query in sort order, page by page (`search_after`). */
  async *#scan<T>(what: string, index: IndexName, query: Query, sort: object[]): AsyncGenerator<Hit<T>> {
    let after: unknown[] | undefined;
    for (;;) {
      const found = await this.#search<T>(what, index, { size: 1000, query, sort, ...(after === undefined ? {} : { search_after: after }) });
      yield* found.hits.hits;
      if (found.hits.hits.length < 1000) return;
      after = found.hits.hits.at(-1)?.sort;
    }
  }

  async #requireJobs(jobIds: readonly string[]): Promise<void> {
    const unknown = [...new Set(jobIds)].filter((id) => !this.#knownJobs.has(id));
    if (unknown.length === 0) return;
    const found = await this.#mget<JobSource>(
      'read jobs',
      'jobs',
      unknown.map((id) => docId(id)),
    );
    const missing = unknown.filter((_, i) => found[i] === undefined);
    if (missing.length > 0) throw jobNotFound(missing);
    for (const id of unknown) if (this.#knownJobs.size < 100_000) this.#knownJobs.add(id);
  }

  /** The jobs with their counters: results and valid ones, dead letters not replayed. */
  async #withCounters(jobs: readonly JobSource[]): Promise<Job[]> {
    if (jobs.length === 0) return [];
    const ids = jobs.map((job) => job.id);
    const terms = { field: 'jobId', size: ids.length, include: ids };
    const results = await this.#search<never>('count results', 'results', {
      size: 0,
      query: { terms: { jobId: ids } },
      aggs: { jobs: { terms, aggs: { valid: { filter: { term: { valid: true } } } } } },
    });
    const dlq = await this.#search<never>('count dead letters', 'dlq', {
      size: 0,
      query: { bool: { filter: [{ terms: { jobId: ids } }], must_not: [{ exists: { field: 'replayedAt' } }] } },
      aggs: { jobs: { terms } },
    });
    const resultCounts = new Map(
      (results.aggregations?.jobs?.buckets ?? []).map((b) => [String(b.key), { results: b.doc_count, valid: (b.valid as Bucket).doc_count }]),
    );
    const dlqCounts = new Map((dlq.aggregations?.jobs?.buckets ?? []).map((b) => [String(b.key), b.doc_count]));
    return jobs.map((job) => {
      const counts = resultCounts.get(job.id) ?? { results: 0, valid: 0 };
      return toJob(job, counts.results, counts.valid, dlqCounts.get(job.id) ?? 0);
    });
  }

  async #dlqById(id: string): Promise<{ position: string; source: DlqSource } | undefined> {
    if (typeof id !== 'string' || id === '') return undefined;
    const owner = await this.#get<{ position: string }>('read a DLQ id', 'dlq-ids', id);
    if (owner === undefined) return undefined;
    const source = await this.#get<DlqSource>('read a DLQ entry', 'dlq', owner.position);
    // the id of a redelivery that found its position taken points at another entry's document
    return source === undefined || source.id !== id ? undefined : { position: owner.position, source };
  }

  #resultSource(result: ResultInput): ResultSource {
    let record: string | null = null;
    let recordOmitted = false;
    if (result.record !== undefined) {
      const bytes = typeof result.record === 'string' ? Buffer.byteLength(result.record) : result.record.byteLength;
      if (bytes > this.#maxRecordBytes) recordOmitted = true;
      else
        record =
          typeof result.record === 'string'
            ? result.record
            : Buffer.from(result.record.buffer, result.record.byteOffset, result.record.byteLength).toString('utf8');
    }
    return {
      jobId: result.jobId,
      recordNumber: result.recordNumber,
      valid: result.valid,
      violationCount: result.violations.length,
      warnings: result.violations.some((v) => v.severity === 'warning'),
      truncated: result.truncated === true,
      record,
      recordOmitted,
      violations: result.violations.map((v) => ({ ruleId: v.ruleId, severity: v.severity, path: v.path, message: v.message })),
    };
  }

  #dlqSource(entry: DlqInput): DlqSource {
    const kept = Buffer.from(entry.payload.buffer, entry.payload.byteOffset, Math.min(entry.payload.byteLength, this.#maxDlqPayloadBytes));
    return {
      id: entry.id,
      jobId: entry.jobId ?? null,
      recordNumber: entry.recordNumber ?? null,
      topic: entry.topic,
      partition: entry.partition,
      offset: entry.offset,
      reason: entry.reason,
      code: entry.code,
      payload: kept.toString('base64'),
      payloadSize: Math.max(entry.payloadSize ?? 0, entry.payload.byteLength),
      createdAt: entry.createdAt,
      replayedAt: null,
    };
  }
}

/** A document id from its key parts; hashed when long, so any value fits. */
function docId(...parts: readonly (string | number)[]): string {
  const plain = parts.map(String).join('\u001f');
  return Buffer.byteLength(plain) <= MAX_PLAIN_ID_BYTES ? plain : `sha256:${createHash('sha256').update(plain).digest('base64url')}`;
}

function pickJob(job: NewJob): Omit<JobSource, 'uploadSha256'> {
  return { id: job.id, ruleSet: job.ruleSet, ruleSetVersion: job.ruleSetVersion, total: job.total, createdAt: job.createdAt, source: job.source };
}

/** What the violation filters of a search require of one violation (nested query clauses). */
function violationConditions(query: ResultQuery): Query[] {
  const conditions: Query[] = [];
  if (query.ruleId !== undefined) {
    requireString('ruleId', query.ruleId);
    conditions.push({ term: { 'violations.ruleId': query.ruleId } });
  }
  if (query.severity !== undefined) {
    if (query.severity !== 'error' && query.severity !== 'warning')
      throw invalid(`severity must be "error" or "warning", got ${JSON.stringify(query.severity)}`);
    conditions.push({ term: { 'violations.severity': query.severity } });
  }
  if (query.field !== undefined && query.field !== '') {
    requireString('field', query.field);
    if (!query.field.startsWith('/')) throw invalid(`field must be a JSON pointer starting with "/", got ${JSON.stringify(query.field)}`);
    conditions.push({
      bool: { should: [{ term: { 'violations.path': query.field } }, { prefix: { 'violations.path': `${query.field}/` } }], minimum_should_match: 1 },
    });
  }
  const text = searchText(query.text);
  if (text !== undefined) {
    // A wildcard query takes no query syntax: only its own `*`, `?` and `\` are escaped.
    const pattern = `*${text.replace(/[\\*?]/g, (c) => `\\${c}`)}*`;
    conditions.push({ wildcard: { 'violations.message': { value: pattern, case_insensitive: true } } });
  }
  return conditions;
}

/** Inside a nested aggregation: violations by rule and severity, and by severity, each with its records. */
function countAggs(): Record<string, object> {
  const records = { records: { reverse_nested: {} } };
  return {
    rules: {
      terms: { field: 'violations.ruleId', size: MAX_RULE_BUCKETS },
      aggs: { severities: { terms: { field: 'violations.severity', size: 2 }, aggs: records } },
    },
    severities: { terms: { field: 'violations.severity', size: 2 }, aggs: records },
  };
}

function reverseCount(bucket: Bucket): number {
  return (bucket.records as { doc_count: number } | undefined)?.doc_count ?? 0;
}

/** Most violations first, then by key, as the SQLite store orders them. */
function byCount<T extends { violations: number }>(key: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => b.violations - a.violations || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
}

function ruleCounts(aggs: Aggregate): RuleCount[] {
  const rows: RuleCount[] = [];
  for (const rule of (aggs.rules as Aggregate | undefined)?.buckets ?? []) {
    for (const severity of (rule.severities as Aggregate).buckets ?? []) {
      rows.push({ ruleId: String(rule.key), severity: severity.key as Severity, records: reverseCount(severity), violations: severity.doc_count });
    }
  }
  return rows.sort(byCount((row) => row.ruleId));
}

function severityCounts(aggs: Aggregate): SeverityCount[] {
  return ((aggs.severities as Aggregate | undefined)?.buckets ?? [])
    .map((bucket): SeverityCount => ({ severity: bucket.key as Severity, records: reverseCount(bucket), violations: bucket.doc_count }))
    .sort(byCount((row) => row.severity));
}

function toStoredRuleSet(source: RuleSetSource): StoredRuleSet {
  return { name: source.name, version: source.version, document: JSON.parse(source.document) as RuleSetDocument, createdAt: source.createdAt };
}

function toListing(current: { name: string; versions: number[]; updatedAt: number }): RuleSetListing {
  return { name: current.name, latestVersion: current.versions.at(-1) ?? 0, versions: current.versions, updatedAt: current.updatedAt };
}

function toJob(source: JobSource, results: number, valid: number, dlq: number): Job {
  const done = results + dlq;
  return {
    id: source.id,
    ruleSet: source.ruleSet,
    ruleSetVersion: source.ruleSetVersion,
    total: source.total,
    createdAt: source.createdAt,
    source: source.source,
    results,
    valid,
    invalid: results - valid,
    dlq,
    progress: source.total === null ? null : source.total === 0 ? 1 : Math.min(1, done / source.total),
    uploadSha256: source.uploadSha256 ?? null,
  };
}

function toStoredResult(source: ResultSource): StoredResult {
  return {
    jobId: source.jobId,
    recordNumber: source.recordNumber,
    valid: source.valid,
    violations: source.violations,
    truncated: source.truncated,
    ...(source.record === null ? {} : { record: source.record }),
    recordOmitted: source.recordOmitted,
  };
}

function toDlqEntry(source: DlqSource): DlqEntry {
  const payload = Buffer.from(source.payload, 'base64');
  return {
    id: source.id,
    jobId: source.jobId,
    recordNumber: source.recordNumber,
    topic: source.topic,
    partition: source.partition,
    offset: source.offset,
    reason: source.reason,
    code: source.code,
    payload,
    payloadSize: source.payloadSize,
    payloadTruncated: payload.byteLength < source.payloadSize,
    createdAt: source.createdAt,
    replayedAt: source.replayedAt,
  };
}

function retryableItem(answer: BulkItemAnswer): boolean {
  return answer.status === 429 || answer.status >= 500 || answer.error?.type === 'cluster_block_exception';
}

function itemReason(answer: BulkItemAnswer): string {
  if (answer.error === undefined) return `status ${answer.status}`;
  return `${answer.error.type}: ${answer.error.reason}${answer.error.caused_by?.reason ? ` (${answer.error.caused_by.reason})` : ''}`;
}

/** What a failed request means: retry it (the store is away), stop (credentials), or a bug to report. */
function classify(error: unknown): { kind: 'retry' | 'auth' | 'fatal'; reason: string } {
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode;
    const type = (error.body as { error?: { type?: string; reason?: string } } | undefined)?.error?.type;
    const reason = `${status} ${type ?? ''} ${(error.body as { error?: { reason?: string } } | undefined)?.error?.reason ?? ''}`.trim();
    if (status === 401) return { kind: 'auth', reason: `401 (credentials refused)` };
    if (status === 403 && type !== 'cluster_block_exception') return { kind: 'auth', reason: `403 (not permitted) ${reason}` };
    if (status === 429 || status === 502 || status === 503 || status === 504 || type === 'cluster_block_exception') return { kind: 'retry', reason };
    return { kind: 'fatal', reason };
  }
  if (error instanceof errors.ConnectionError || error instanceof errors.TimeoutError || error instanceof errors.NoLivingConnectionsError) {
    return { kind: 'retry', reason: error.message };
  }
  return { kind: 'fatal', reason: error instanceof Error ? error.message : String(error) };
}
