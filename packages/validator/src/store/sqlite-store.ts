import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import type { RuleSetDocument, Severity } from '../rules/rule-set.js';
import type { UniqueClaim, UniquenessTracker } from '../rules/uniqueness.js';
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
import { BackgroundCheckpointer } from './sqlite-checkpointer.js';
import { applyMigrations, SCHEMA_VERSION } from './sqlite-migrations.js';
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
  type UniquenessBacking,
  type UpsertOutcome,
} from './store.js';

export interface SqliteResultStoreOptions {
  /**
   * `NORMAL` (default): in WAL mode a commit is written to the WAL before `upsertResults`
   * resolves, so it survives the process crashing or being killed, but the WAL is synced to disk
   * only at checkpoints: an OS crash or power loss can lose the last commits. `FULL` syncs the WAL
   * on every commit (survives power loss; slower on a disk with slow syncs).
   */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /** Records (JSON text) longer than this many UTF-8 bytes are not kept with their result. Default 64 KiB. */
  readonly maxRecordBytes?: number;
  /** DLQ payloads are cut to this many bytes (the size as received is kept). Default 1 MiB. */
  readonly maxDlqPayloadBytes?: number;
  /** How long a write waits for another process holding the write lock. Default 10 s. */
  readonly busyTimeoutMs?: number;
  /** Page cache of this connection. Default 64 MiB. */
  readonly cacheMiB?: number;
  /**
   * Checkpoint the WAL from a thread of its own instead of inside commits (see
   * `BackgroundCheckpointer`); for a busy writer such as the worker. Default false.
   */
  readonly backgroundCheckpoint?: boolean;
}

const DEFAULT_MAX_RECORD_BYTES = 64 * 1024;
const DEFAULT_MAX_DLQ_PAYLOAD_BYTES = 1024 * 1024;
/** Uniqueness keys longer than this are stored as their SHA-256, so a huge value does not bloat the claims table. */
const MAX_PLAIN_UNIQUE_KEY = 200;
const MESSAGE_CACHE_SIZE = 20_000;

/** SQLite stores whatever passed the checks. */
const NOTHING_REJECTED: UpsertOutcome = { rejected: [] };

const RESULTS_CURSOR = 'results';
const JOBS_CURSOR = 'jobs';
const DLQ_CURSOR = 'dlq';

interface JobRow {
  job_key: number;
  id: string;
  rule_set: string;
  rule_set_version: number;
  total: number | null;
  created_at: number;
  source: string;
  result_count: number;
  valid_count: number;
  dlq_count: number;
  upload_sha256: string | null;
}

interface ResultRow {
  valid: number;
  truncated: number;
  record: string | null;
  record_omitted: number;
}

/** job_key, record_number, valid, violation_count, warnings, truncated, record, record_omitted */
type ResultRowParams = [number, number, number, number, number, number, string | Uint8Array | null, number];

interface OldResultRow {
  valid: number;
  warnings: number;
  truncated: number;
  violation_count: number;
}

interface ViolationRow {
  rule_id: string;
  severity: Severity;
  path: string;
  text: string;
}

interface CountRow {
  violations: number;
  records: number;
}

interface DlqRow {
  seq: number;
  id: string;
  job_id: string | null;
  record_number: number | null;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: number;
  reason: string;
  code: string;
  payload: Buffer;
  payload_size: number;
  created_at: number;
  replayed_at: number | null;
}

/** Per-job changes to the counters in `jobs`, accumulated over one batch. */
interface CounterDelta {
  results: number;
  valid: number;
  warningsOnly: number;
  truncated: number;
  violations: number;
}

const JOB_COLUMNS = `j.job_key, j.id, j.rule_set, j.rule_set_version, j.total, j.created_at, j.source, j.result_count, j.valid_count, j.upload_sha256,
  (SELECT COUNT(*) FROM dlq d WHERE d.job_id = j.id AND d.replayed_at IS NULL) AS dlq_count`;
const DLQ_COLUMNS = 'seq, id, job_id, record_number, kafka_topic, kafka_partition, kafka_offset, reason, code, payload, payload_size, created_at, replayed_at';

/**
 * The embedded result store: one SQLite file in WAL mode, shared by the API and any number of
 * worker processes on the same machine (one writer at a time; writers wait up to `busyTimeoutMs`).
 * better-sqlite3 is synchronous: each method does its work before the returned promise settles,
 * and a batch of 500 results holds the event loop for a few milliseconds.
 */
export class SqliteResultStore implements ResultStore, UniquenessBacking {
  readonly file: string;
  /** The schema version of the file after opening (always `SCHEMA_VERSION`). */
  readonly schemaVersion: number;
  /** Versions applied when this store was opened (empty when the file was up to date). */
  readonly migrationsApplied: readonly number[];
  /** How message text is searched: the FTS5 trigram index, or a scan of the distinct messages. */
  readonly textSearch: 'fts5' | 'scan';

  readonly #db: Database.Database;
  readonly #maxRecordBytes: number;
  readonly #maxDlqPayloadBytes: number;
  readonly #jobKeys = new Map<string, number>();
  readonly #messageIds = new Map<string, number>();
  readonly #dynamic = new Map<string, Database.Statement<unknown[], unknown>>();
  readonly #sql: Statements;
  readonly #checkpointer: BackgroundCheckpointer | null;
  readonly #upsertBatch: Database.Transaction<(batch: readonly ResultInput[], jobKeys: readonly number[]) => void>;

  static open(file: string, options: SqliteResultStoreOptions = {}): SqliteResultStore {
    const db = new Database(file);
    try {
      return new SqliteResultStore(db, file, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  private constructor(db: Database.Database, file: string, options: SqliteResultStoreOptions) {
    this.#db = db;
    this.file = file;
    this.#maxRecordBytes = positiveOption('maxRecordBytes', options.maxRecordBytes, DEFAULT_MAX_RECORD_BYTES);
    this.#maxDlqPayloadBytes = positiveOption('maxDlqPayloadBytes', options.maxDlqPayloadBytes, DEFAULT_MAX_DLQ_PAYLOAD_BYTES);
    const synchronous = options.synchronous ?? 'NORMAL';
    if (synchronous !== 'NORMAL' && synchronous !== 'FULL') throw invalid(`synchronous must be "NORMAL" or "FULL", got ${JSON.stringify(synchronous)}`);
    db.pragma(`busy_timeout = ${positiveOption('busyTimeoutMs', options.busyTimeoutMs, 10_000)}`);
    const journal = db.pragma('journal_mode = WAL', { simple: true });
    if (journal !== 'wal' && file !== ':memory:') throw new Error(`result store ${file}: SQLite refused WAL mode (journal_mode is ${String(journal)})`);
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('foreign_keys = ON');
    db.pragma(`cache_size = ${-1024 * positiveOption('cacheMiB', options.cacheMiB, 64)}`);
    db.pragma('temp_store = MEMORY');
    const background = options.backgroundCheckpoint === true && file !== ':memory:';
    // In the background every 100 ms; here only past 16,384 pages (64 MiB), should that fall behind.
    if (background) db.pragma('wal_autocheckpoint = 16384');

    this.migrationsApplied = applyMigrations(db, file);
    this.schemaVersion = SCHEMA_VERSION;
    const fts = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'messages_fts'").get();
    this.textSearch = fts === undefined ? 'scan' : 'fts5';
    this.#sql = prepareStatements(db);
    this.#upsertBatch = db.transaction((batch: readonly ResultInput[], jobKeys: readonly number[]) => this.#writeBatch(batch, jobKeys));
    // Should the thread fail, this connection checkpoints at SQLite's usual 1,000 pages again.
    this.#checkpointer = background ? new BackgroundCheckpointer(file, 100, () => this.#db.open && db.pragma('wal_autocheckpoint = 1000')) : null;
  }

  // ---- rule sets ----

  async saveRuleSet(name: string, version: number, document: RuleSetDocument, createdAt: number): Promise<SaveRuleSetResult> {
    const sql = this.#open();
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
    return this.#db
      .transaction((): SaveRuleSetResult => {
        const existing = sql.getRuleSetVersion.get(name, version);
        if (existing !== undefined) {
          if (existing.document !== text) {
            const latest = sql.latestRuleSetVersion.pluck().get(name) as number;
            throw new StoreError(
              'RULE_SET_VERSION_CHANGED',
              `rule set "${name}" version ${version} already exists with a different document, and versions are immutable: save the change as version ${latest + 1}`,
            );
          }
          return { ruleSet: toStoredRuleSet(existing), created: false };
        }
        sql.insertRuleSet.run(name, version, text, createdAt);
        return { ruleSet: { name, version, document: JSON.parse(text) as RuleSetDocument, createdAt }, created: true };
      })
      .immediate();
  }

  async getRuleSet(name: string, version?: number): Promise<StoredRuleSet | undefined> {
    const sql = this.#open();
    const row = version === undefined ? sql.getLatestRuleSet.get(name) : sql.getRuleSetVersion.get(name, version);
    return row === undefined ? undefined : toStoredRuleSet(row);
  }

  async listRuleSets(): Promise<RuleSetListing[]> {
    const listings: RuleSetListing[] = [];
    let current: { name: string; versions: number[]; updatedAt: number } | undefined;
    for (const row of this.#open().listRuleSetVersions.iterate()) {
      if (current?.name !== row.name) {
        if (current !== undefined) listings.push(toListing(current));
        current = { name: row.name, versions: [], updatedAt: row.created_at };
      }
      current.versions.push(row.version);
      current.updatedAt = row.created_at;
    }
    if (current !== undefined) listings.push(toListing(current));
    return listings;
  }

  // ---- jobs ----

  async createJob(job: NewJob): Promise<Job> {
    const sql = this.#open();
    requireName('job id', job.id);
    requireName('rule set name', job.ruleSet);
    requireInteger('rule set version', job.ruleSetVersion, 1);
    if (job.total !== null) requireInteger('total', job.total, 0);
    requireTime('createdAt', job.createdAt);
    if (typeof job.source !== 'string') throw invalid('job source must be a string');
    return this.#db
      .transaction((): Job => {
        const existing = sql.getJob.get(job.id);
        if (existing !== undefined) {
          if (existing.rule_set !== job.ruleSet || existing.rule_set_version !== job.ruleSetVersion || existing.source !== job.source) {
            throw new StoreError(
              'JOB_EXISTS',
              `job "${job.id}" already exists for rule set "${existing.rule_set}" version ${existing.rule_set_version} from ${existing.source}: use another job id`,
            );
          }
          return toJob(existing);
        }
        if (sql.getRuleSetVersion.get(job.ruleSet, job.ruleSetVersion) === undefined) {
          throw new StoreError('RULE_SET_NOT_FOUND', `job "${job.id}": rule set "${job.ruleSet}" version ${job.ruleSetVersion} is not stored: save it first`);
        }
        sql.insertJob.run(job.id, job.ruleSet, job.ruleSetVersion, job.total, job.createdAt, job.source);
        return toJob(sql.getJob.get(job.id) as JobRow);
      })
      .immediate();
  }

  async setJobTotal(id: string, total: number, uploadSha256?: string): Promise<void> {
    const sql = this.#open();
    requireInteger('total', total, 0);
    if (uploadSha256 !== undefined && !/^[0-9a-f]{64}$/.test(uploadSha256)) throw invalid('uploadSha256 must be 64 lower-case hex digits');
    if (sql.setJobTotal.run(total, uploadSha256 ?? null, id).changes === 0) throw jobNotFound([id]);
  }

  async getJob(id: string): Promise<Job | undefined> {
    const row = this.#open().getJob.get(id);
    return row === undefined ? undefined : toJob(row);
  }

  async listJobs(query: PageQuery): Promise<Page<Job>> {
    const sql = this.#open();
    const limit = pageLimit(query.limit);
    let rows: JobRow[];
    if (query.cursor === undefined) rows = sql.listJobs.all(limit + 1);
    else {
      const position = decodeCursor(JOBS_CURSOR, query.cursor);
      const createdAt = cursorInteger(JOBS_CURSOR, position, 'c', query.cursor);
      const jobKey = cursorInteger(JOBS_CURSOR, position, 'n', query.cursor);
      rows = sql.listJobsAfter.all(createdAt, jobKey, limit + 1);
    }
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page.at(-1);
    return {
      items: page.map(toJob),
      nextCursor: more && last !== undefined ? encodeCursor(JOBS_CURSOR, { c: last.created_at, n: last.job_key }) : null,
    };
  }

  // ---- results ----

  /**
   * One IMMEDIATE transaction per batch. Resolves after the commit: durable against a crash of
   * this process with the default `synchronous: 'NORMAL'`, against power loss with `'FULL'`.
   */
  async upsertResults(batch: readonly ResultInput[]): Promise<UpsertOutcome> {
    this.#open();
    if (!Array.isArray(batch)) throw invalid('upsertResults takes an array of results');
    if (batch.length === 0) return NOTHING_REJECTED;
    batch.forEach(checkResultInput);
    const jobKeys = this.#resolveJobKeys(batch.map((result) => result.jobId));
    try {
      this.#upsertBatch.immediate(batch, jobKeys);
    } catch (error) {
      // ids handed out inside the rolled-back transaction do not exist
      this.#messageIds.clear();
      throw error;
    }
    return NOTHING_REJECTED;
  }

  async searchResults(query: ResultQuery): Promise<ResultPage> {
    this.#open();
    const limit = pageLimit(query.limit);
    const jobKey = this.#jobKeyOrUndefined(query.jobId);
    if (jobKey === undefined) throw jobNotFound([query.jobId]);
    let after = -1;
    if (query.cursor !== undefined) {
      const position = decodeCursor(RESULTS_CURSOR, query.cursor);
      if (position.j !== query.jobId) throw new StoreError('INVALID_CURSOR', `the cursor belongs to a search of another job, not "${query.jobId}"`);
      after = cursorInteger(RESULTS_CURSOR, position, 'r', query.cursor);
    }
    const filter = this.#violationFilter(query);
    if (query.valid !== undefined && typeof query.valid !== 'boolean') throw invalid('valid must be true or false');
    const validParam = query.valid === undefined ? [] : [query.valid ? 1 : 0];

    let numbers: number[];
    if (filter.conditions.length === 0) {
      const where = ['job_key = ?', 'record_number > ?', ...(query.valid === undefined ? [] : ['valid = ?'])];
      numbers = this.#statement(`SELECT record_number FROM results WHERE ${where.join(' AND ')} ORDER BY record_number LIMIT ?`)
        .pluck()
        .all(jobKey, after, ...validParam, limit + 1) as number[];
    } else {
      const { from, where } = violationSource(filter, query.valid !== undefined);
      numbers = this.#statement(`SELECT DISTINCT v.record_number ${from} WHERE ${where} AND v.record_number > ? ORDER BY v.record_number LIMIT ?`)
        .pluck()
        .all(jobKey, ...filter.params, ...validParam, after, limit + 1) as number[];
    }
    const more = numbers.length > limit;
    const pageNumbers = more ? numbers.slice(0, limit) : numbers;
    const items = pageNumbers.map((recordNumber) => this.#readResult(query.jobId, jobKey, recordNumber));
    const last = pageNumbers.at(-1);
    const nextCursor = more && last !== undefined ? encodeCursor(RESULTS_CURSOR, { j: query.jobId, r: last }) : null;
    if (query.facets === false) return { items, nextCursor };
    return { items, nextCursor, facets: this.#facets(jobKey, filter, query.valid) };
  }

  async getResult(jobId: string, recordNumber: number): Promise<StoredResult | undefined> {
    const sql = this.#open();
    requireInteger('recordNumber', recordNumber, 0);
    const jobKey = this.#jobKeyOrUndefined(jobId);
    if (jobKey === undefined) throw jobNotFound([jobId]);
    if (sql.getResult.get(jobKey, recordNumber) === undefined) return undefined;
    return this.#readResult(jobId, jobKey, recordNumber);
  }

  async jobSummary(jobId: string): Promise<JobSummary | undefined> {
    const sql = this.#open();
    const job = sql.getJobCounters.get(jobId);
    if (job === undefined) return undefined;
    const byField = sql.countsByPath.all(job.job_key, SUMMARY_FIELD_LIMIT + 1);
    return {
      jobId,
      records: job.result_count,
      valid: job.valid_count,
      invalid: job.result_count - job.valid_count,
      warningsOnly: job.warnings_only_count,
      truncated: job.truncated_count,
      violations: job.violation_count,
      byRule: sql.countsByKind.all(job.job_key, 'rule').map(toRuleCount),
      byField: byField.slice(0, SUMMARY_FIELD_LIMIT).map((row): FieldCount => ({ path: row.path, records: row.records, violations: row.violations })),
      byFieldTruncated: byField.length > SUMMARY_FIELD_LIMIT,
      bySeverity: sql.countsByKind.all(job.job_key, 'severity').map(toSeverityCount),
    };
  }

  // ---- dead-letter queue ----

  async addDlq(entry: DlqInput): Promise<AddDlqResult> {
    const [added] = await this.addDlqBatch([entry]);
    return added as AddDlqResult;
  }

  /** One IMMEDIATE transaction for the whole batch, durable like `upsertResults`. */
  async addDlqBatch(entries: readonly DlqInput[]): Promise<AddDlqResult[]> {
    const sql = this.#open();
    if (!Array.isArray(entries)) throw invalid('addDlqBatch takes an array of DLQ entries');
    if (entries.length === 0) return [];
    entries.forEach(checkDlqInput);
    return this.#db.transaction((): AddDlqResult[] => entries.map((entry) => this.#insertDlq(sql, entry))).immediate();
  }

  #insertDlq(sql: Statements, entry: DlqInput): AddDlqResult {
    const stored = sql.getDlqByPosition.get(entry.topic, entry.partition, entry.offset);
    if (stored !== undefined) return { id: stored, created: false };
    const sameId = sql.getDlq.get(entry.id);
    if (sameId !== undefined) {
      throw new StoreError(
        'DLQ_ID_CONFLICT',
        `DLQ entry "${entry.id}" already exists for ${sameId.kafka_topic}/${sameId.kafka_partition}@${sameId.kafka_offset}, not ${entry.topic}/${entry.partition}@${entry.offset}: use a new id`,
      );
    }
    const payload = Buffer.from(entry.payload.buffer, entry.payload.byteOffset, Math.min(entry.payload.byteLength, this.#maxDlqPayloadBytes));
    sql.insertDlq.run(
      entry.id,
      entry.jobId ?? null,
      entry.recordNumber ?? null,
      entry.topic,
      entry.partition,
      entry.offset,
      entry.reason,
      entry.code,
      payload,
      Math.max(entry.payloadSize ?? 0, entry.payload.byteLength),
      entry.createdAt,
    );
    return { id: entry.id, created: true };
  }

  async listDlq(query: DlqQuery): Promise<Page<DlqEntry>> {
    this.#open();
    const limit = pageLimit(query.limit);
    const before = query.cursor === undefined ? Number.MAX_SAFE_INTEGER : cursorInteger(DLQ_CURSOR, decodeCursor(DLQ_CURSOR, query.cursor), 's', query.cursor);
    const rows =
      query.jobId === undefined
        ? (this.#statement(`SELECT ${DLQ_COLUMNS} FROM dlq WHERE seq < ? ORDER BY seq DESC LIMIT ?`).all(before, limit + 1) as DlqRow[])
        : (this.#statement(`SELECT ${DLQ_COLUMNS} FROM dlq WHERE job_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`).all(
            query.jobId,
            before,
            limit + 1,
          ) as DlqRow[]);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page.at(-1);
    return { items: page.map(toDlqEntry), nextCursor: more && last !== undefined ? encodeCursor(DLQ_CURSOR, { s: last.seq }) : null };
  }

  async getDlq(id: string): Promise<DlqEntry | undefined> {
    const row = this.#open().getDlq.get(id);
    return row === undefined ? undefined : toDlqEntry(row);
  }

  async markDlqReplayed(id: string, at: number): Promise<void> {
    const sql = this.#open();
    requireTime('at', at);
    if (sql.markDlqReplayed.run(at, id).changes === 0) throw new StoreError('DLQ_NOT_FOUND', `DLQ entry "${id}" does not exist`);
  }

  // ---- uniqueness ----

  /**
   * Throws `JOB_NOT_FOUND` when the job is not stored. Each `seen` is its own small write
   * transaction; `seenAll` makes a batch of claims in one.
   */
  uniquenessTracker(jobId: string): UniquenessTracker {
    const sql = this.#open();
    const jobKey = this.#jobKeyOrUndefined(jobId);
    if (jobKey === undefined) throw jobNotFound([jobId]);
    const claim = (ruleId: string, key: string, recordNumber: number): boolean => {
      const storedKey = key.length <= MAX_PLAIN_UNIQUE_KEY ? key : `sha256:${createHash('sha256').update(key).digest('base64url')}`;
      if (sql.claimUnique.run(jobKey, ruleId, storedKey, recordNumber).changes === 1) return false;
      return sql.uniqueOwner.pluck().get(jobKey, ruleId, storedKey) !== recordNumber;
    };
    const claimAll = this.#db.transaction((claims: readonly UniqueClaim[]) => claims.map((c) => claim(c.ruleId, c.key, c.recordNumber)));
    return {
      seen: (ruleId: string, key: string, recordNumber: number): boolean => {
        this.#open();
        return claim(ruleId, key, recordNumber);
      },
      seenAll: (claims: readonly UniqueClaim[]): boolean[] => {
        this.#open();
        return claims.length === 0 ? [] : claimAll.immediate(claims);
      },
    };
  }

  async claimUnique(jobId: string, claims: readonly UniqueClaim[]): Promise<boolean[]> {
    const tracker = this.uniquenessTracker(jobId);
    return tracker.seenAll?.(claims) ?? [];
  }

  async close(): Promise<void> {
    await this.#checkpointer?.close();
    if (this.#db.open) this.#db.close();
  }

  // ---- internals ----

  #open() {
    if (!this.#db.open) throw new StoreError('STORE_CLOSED', `result store ${this.file} is closed`);
    return this.#sql;
  }

  #statement(source: string): Database.Statement<unknown[], unknown> {
    let statement = this.#dynamic.get(source);
    if (statement === undefined) {
      statement = this.#db.prepare(source);
      this.#dynamic.set(source, statement);
    }
    return statement;
  }

  #jobKeyOrUndefined(jobId: string): number | undefined {
    let jobKey = this.#jobKeys.get(jobId);
    if (jobKey === undefined) {
      jobKey = this.#sql.getJobKey.pluck().get(jobId) as number | undefined;
      // job keys never change (jobs are not deleted), so caching them is safe across processes
      if (jobKey !== undefined) this.#jobKeys.set(jobId, jobKey);
    }
    return jobKey;
  }

  #resolveJobKeys(jobIds: readonly string[]): number[] {
    const missing = new Set<string>();
    const keys = jobIds.map((jobId) => {
      const jobKey = this.#jobKeyOrUndefined(jobId);
      if (jobKey === undefined) missing.add(jobId);
      return jobKey ?? -1;
    });
    if (missing.size > 0) throw jobNotFound([...missing]);
    return keys;
  }

  #writeBatch(batch: readonly ResultInput[], jobKeys: readonly number[]): void {
    const sql = this.#sql;
    const deltas = new Map<number, CounterDelta>();
    const counts = new ViolationCountDeltas();
    batch.forEach((result, index) => {
      const jobKey = jobKeys[index] as number;
      const { record, omitted } = this.#capRecord(result.record);
      const truncated = result.truncated === true ? 1 : 0;
      const valid = result.valid ? 1 : 0;
      let warnings = 0;
      for (const violation of result.violations) if (violation.severity === 'warning') warnings++;
      const row: ResultRowParams = [jobKey, result.recordNumber, valid, result.violations.length, warnings, truncated, record, omitted ? 1 : 0];
      // New records are the rule; a redelivered one (the insert changes nothing) replaces its row
      // and its violations, and its old counts are taken out first.
      let old: OldResultRow | undefined;
      if (sql.insertNewResult.run(...row).changes === 0) {
        old = sql.getOldResult.get(jobKey, result.recordNumber) as OldResultRow;
        if (old.violation_count > 0) {
          counts.addRecord(jobKey, old.valid, sql.getViolationKeys.all(jobKey, result.recordNumber), -1);
          sql.deleteViolations.run(jobKey, result.recordNumber);
        }
        sql.replaceResult.run(valid, result.violations.length, warnings, truncated, record, omitted ? 1 : 0, jobKey, result.recordNumber);
      }
      result.violations.forEach((violation, seq) => {
        sql.insertViolation.run(jobKey, result.recordNumber, seq, violation.ruleId, violation.severity, violation.path, this.#messageId(violation.message));
      });
      counts.addRecord(jobKey, valid, result.violations, 1);

      let delta = deltas.get(jobKey);
      if (delta === undefined) {
        delta = { results: 0, valid: 0, warningsOnly: 0, truncated: 0, violations: 0 };
        deltas.set(jobKey, delta);
      }
      const warningsOnly = valid === 1 && warnings > 0 ? 1 : 0;
      delta.results += old === undefined ? 1 : 0;
      delta.valid += valid - (old?.valid ?? 0);
      delta.warningsOnly += warningsOnly - (old !== undefined && old.valid === 1 && old.warnings > 0 ? 1 : 0);
      delta.truncated += truncated - (old?.truncated ?? 0);
      delta.violations += result.violations.length - (old?.violation_count ?? 0);
    });
    for (const [jobKey, delta] of deltas) {
      sql.addJobCounters.run(delta.results, delta.valid, delta.warningsOnly, delta.truncated, delta.violations, jobKey);
    }
    for (const delta of counts.deltas()) {
      sql.addViolationCounts.run(delta.jobKey, delta.kind, delta.value, delta.severity, delta.recordValid, delta.violations, delta.records);
    }
  }

  #messageId(text: string): number {
    let id = this.#messageIds.get(text);
    if (id === undefined) {
      id = (this.#sql.getMessageId.pluck().get(text) as number | undefined) ?? (this.#sql.insertMessage.pluck().get(text) as number);
      if (this.#messageIds.size >= MESSAGE_CACHE_SIZE) this.#messageIds.clear();
      this.#messageIds.set(text, id);
    }
    return id;
  }

  #capRecord(record: string | Uint8Array | undefined): { record: string | Uint8Array | null; omitted: boolean } {
    if (record === undefined) return { record: null, omitted: false };
    if (typeof record !== 'string') return record.length <= this.#maxRecordBytes ? { record, omitted: false } : { record: null, omitted: true };
    // a UTF-8 byte is at most 3 per UTF-16 unit; only measure when the length alone cannot decide
    const fits =
      record.length * 3 <= this.#maxRecordBytes || (record.length <= this.#maxRecordBytes && Buffer.byteLength(record, 'utf8') <= this.#maxRecordBytes);
    return fits ? { record, omitted: false } : { record: null, omitted: true };
  }

  #readResult(jobId: string, jobKey: number, recordNumber: number): StoredResult {
    const row = this.#sql.getResult.get(jobKey, recordNumber) as ResultRow;
    const violations = this.#sql.getViolations
      .all(jobKey, recordNumber)
      .map((violation): StoredViolation => ({ ruleId: violation.rule_id, severity: violation.severity, path: violation.path, message: violation.text }));
    return {
      jobId,
      recordNumber,
      valid: row.valid === 1,
      violations,
      truncated: row.truncated === 1,
      ...(row.record === null ? {} : { record: row.record }),
      recordOmitted: row.record_omitted === 1,
    };
  }

  #violationFilter(query: ResultQuery): ViolationFilter {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (query.ruleId !== undefined) {
      requireString('ruleId', query.ruleId);
      conditions.push('v.rule_id = ?');
      params.push(query.ruleId);
    }
    if (query.severity !== undefined) {
      if (query.severity !== 'error' && query.severity !== 'warning')
        throw invalid(`severity must be "error" or "warning", got ${JSON.stringify(query.severity)}`);
      conditions.push('v.severity = ?');
      params.push(query.severity);
    }
    if (query.field !== undefined && query.field !== '') {
      requireString('field', query.field);
      if (!query.field.startsWith('/')) throw invalid(`field must be a JSON pointer starting with "/", got ${JSON.stringify(query.field)}`);
      // [field, field + '0') is an index range holding the field, everything under "field/" and
      // siblings such as "field-x" (characters below '/'); the second condition drops those.
      conditions.push('v.path >= ? AND v.path < ? AND (v.path = ? OR v.path >= ?)');
      params.push(query.field, `${query.field}0`, query.field, `${query.field}/`);
    }
    const text = searchText(query.text);
    if (text !== undefined) {
      // the trigram index answers substrings of 3 characters or more
      if (this.textSearch === 'fts5' && [...text].length >= 3) {
        conditions.push('v.message_id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)');
        params.push(fts5Phrase(text));
      } else {
        conditions.push('v.message_id IN (SELECT message_id FROM messages WHERE instr(lower(text), lower(?)) > 0)');
        params.push(text);
      }
    }
    return { conditions, params };
  }

  #facets(jobKey: number, filter: ViolationFilter, valid: boolean | undefined): ResultFacets {
    if (filter.conditions.length === 0) {
      // no violation filter: the kept counts answer
      const counters = this.#sql.getJobCountersByKey.get(jobKey) as { result_count: number; valid_count: number };
      if (valid === undefined) {
        return {
          records: counters.result_count,
          byRule: this.#sql.countsByKind.all(jobKey, 'rule').map(toRuleCount),
          bySeverity: this.#sql.countsByKind.all(jobKey, 'severity').map(toSeverityCount),
        };
      }
      const recordValid = valid ? 1 : 0;
      return {
        records: valid ? counters.valid_count : counters.result_count - counters.valid_count,
        byRule: this.#sql.countsByKindAndValidity.all(jobKey, 'rule', recordValid).map(toRuleCount),
        bySeverity: this.#sql.countsByKindAndValidity.all(jobKey, 'severity', recordValid).map(toSeverityCount),
      };
    }
    const { from, where } = violationSource(filter, valid !== undefined);
    const params = [jobKey, ...filter.params, ...(valid === undefined ? [] : [valid ? 1 : 0])];
    const records = this.#statement(`SELECT COUNT(DISTINCT v.record_number) ${from} WHERE ${where}`)
      .pluck()
      .get(...params) as number;
    const byRule = this.#statement(
      `SELECT v.rule_id, v.severity, COUNT(*) AS violations, COUNT(DISTINCT v.record_number) AS records ${from} WHERE ${where}
       GROUP BY v.rule_id, v.severity ORDER BY violations DESC, v.rule_id`,
    ).all(...params) as (CountRow & { rule_id: string; severity: Severity })[];
    const bySeverity = this.#statement(
      `SELECT v.severity, COUNT(*) AS violations, COUNT(DISTINCT v.record_number) AS records ${from} WHERE ${where}
       GROUP BY v.severity ORDER BY v.severity`,
    ).all(...params) as (CountRow & { severity: Severity })[];
    return { records, byRule: byRule.map(toRuleCount), bySeverity: bySeverity.map(toSeverityCount) };
  }
}

type CountKind = 'rule' | 'severity' | 'path';

interface ViolationKey {
  readonly ruleId: string;
  readonly severity: Severity;
  readonly path: string;
}

interface ViolationCountDelta {
  readonly jobKey: number;
  readonly kind: CountKind;
  readonly value: string;
  readonly severity: string;
  readonly recordValid: number;
  violations: number;
  records: number;
}

/** Changes to `violation_counts` over one batch, applied with one statement per distinct key. */
class ViolationCountDeltas {
  readonly #deltas = new Map<string, ViolationCountDelta>();

  /** Adds (sign 1) or takes out (sign -1) one record's violations. */
  addRecord(jobKey: number, recordValid: number, violations: readonly ViolationKey[], sign: 1 | -1): void {
    if (violations.length === 0) return;
    const inRecord = new Set<ViolationCountDelta>();
    for (const violation of violations) {
      for (const delta of [
        this.#delta(jobKey, 'rule', violation.ruleId, violation.severity, recordValid),
        this.#delta(jobKey, 'severity', violation.severity, violation.severity, recordValid),
        this.#delta(jobKey, 'path', violation.path, '', recordValid),
      ]) {
        delta.violations += sign;
        inRecord.add(delta);
      }
    }
    for (const delta of inRecord) delta.records += sign;
  }

  deltas(): Iterable<ViolationCountDelta> {
    return this.#deltas.values();
  }

  #delta(jobKey: number, kind: CountKind, value: string, severity: string, recordValid: number): ViolationCountDelta {
    const key = `${jobKey}\u0000${kind}\u0000${recordValid}\u0000${severity}\u0000${value}`;
    let delta = this.#deltas.get(key);
    if (delta === undefined) {
      delta = { jobKey, kind, value, severity, recordValid, violations: 0, records: 0 };
      this.#deltas.set(key, delta);
    }
    return delta;
  }
}

interface ViolationFilter {
  /** SQL over the alias `v` (violations). */
  readonly conditions: readonly string[];
  readonly params: readonly unknown[];
}

/** FROM and WHERE for the violations that match; parameters: job key, the filter's, then valid (when filtered). */
function violationSource(filter: ViolationFilter, byValidity: boolean): { from: string; where: string } {
  const from = byValidity ? 'FROM violations v JOIN results r ON r.job_key = v.job_key AND r.record_number = v.record_number' : 'FROM violations v';
  const where = ['v.job_key = ?', ...filter.conditions, ...(byValidity ? ['r.valid = ?'] : [])].join(' AND ');
  return { from, where };
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  return {
    getRuleSetVersion: db.prepare<[string, number], RuleSetRow>('SELECT name, version, document, created_at FROM rule_sets WHERE name = ? AND version = ?'),
    getLatestRuleSet: db.prepare<[string], RuleSetRow>(
      'SELECT name, version, document, created_at FROM rule_sets WHERE name = ? ORDER BY version DESC LIMIT 1',
    ),
    latestRuleSetVersion: db.prepare<[string], number>('SELECT MAX(version) FROM rule_sets WHERE name = ?'),
    insertRuleSet: db.prepare<[string, number, string, number]>('INSERT INTO rule_sets (name, version, document, created_at) VALUES (?, ?, ?, ?)'),
    listRuleSetVersions: db.prepare<[], { name: string; version: number; created_at: number }>(
      'SELECT name, version, created_at FROM rule_sets ORDER BY name, version',
    ),

    getJob: db.prepare<[string], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.id = ?`),
    getJobKey: db.prepare<[string], number>('SELECT job_key FROM jobs WHERE id = ?'),
    getJobCounters: db.prepare<
      [string],
      { job_key: number; result_count: number; valid_count: number; warnings_only_count: number; truncated_count: number; violation_count: number }
    >('SELECT job_key, result_count, valid_count, warnings_only_count, truncated_count, violation_count FROM jobs WHERE id = ?'),
    getJobCountersByKey: db.prepare<[number], { result_count: number; valid_count: number }>('SELECT result_count, valid_count FROM jobs WHERE job_key = ?'),
    insertJob: db.prepare<[string, string, number, number | null, number, string]>(
      'INSERT INTO jobs (id, rule_set, rule_set_version, total, created_at, source) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    // Never below the results stored (a retried upload that read fewer records than an earlier attempt).
    setJobTotal: db.prepare<[number, string | null, string]>(
      'UPDATE jobs SET total = MAX(?, result_count), upload_sha256 = COALESCE(?, upload_sha256) WHERE id = ?',
    ),
    listJobs: db.prepare<[number], JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs j ORDER BY j.created_at DESC, j.job_key DESC LIMIT ?`),
    listJobsAfter: db.prepare<[number, number, number], JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs j WHERE (j.created_at, j.job_key) < (?, ?) ORDER BY j.created_at DESC, j.job_key DESC LIMIT ?`,
    ),
    addJobCounters: db.prepare<[number, number, number, number, number, number]>(
      `UPDATE jobs SET result_count = result_count + ?, valid_count = valid_count + ?, warnings_only_count = warnings_only_count + ?,
         truncated_count = truncated_count + ?, violation_count = violation_count + ? WHERE job_key = ?`,
    ),

    getOldResult: db.prepare<[number, number], OldResultRow>(
      'SELECT valid, warnings, truncated, violation_count FROM results WHERE job_key = ? AND record_number = ?',
    ),
    insertNewResult: db.prepare<ResultRowParams>(
      // CAST: a record handed over as bytes is stored as the text they are (SQLite does not re-check them)
      `INSERT INTO results (job_key, record_number, valid, violation_count, warnings, truncated, record, record_omitted) VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), ?)
       ON CONFLICT (job_key, record_number) DO NOTHING`,
    ),
    replaceResult: db.prepare<[number, number, number, number, string | Uint8Array | null, number, number, number]>(
      `UPDATE results SET valid = ?, violation_count = ?, warnings = ?, truncated = ?, record = CAST(? AS TEXT), record_omitted = ?
       WHERE job_key = ? AND record_number = ?`,
    ),
    deleteViolations: db.prepare<[number, number]>('DELETE FROM violations WHERE job_key = ? AND record_number = ?'),
    insertViolation: db.prepare<[number, number, number, string, Severity, string, number]>(
      'INSERT INTO violations (job_key, record_number, seq, rule_id, severity, path, message_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    getMessageId: db.prepare<[string], number>('SELECT message_id FROM messages WHERE text = ?'),
    insertMessage: db.prepare<[string], number>('INSERT INTO messages (text) VALUES (?) RETURNING message_id'),
    getResult: db.prepare<[number, number], ResultRow>('SELECT valid, truncated, record, record_omitted FROM results WHERE job_key = ? AND record_number = ?'),
    getViolations: db.prepare<[number, number], ViolationRow>(
      `SELECT v.rule_id, v.severity, v.path, m.text FROM violations v JOIN messages m ON m.message_id = v.message_id
       WHERE v.job_key = ? AND v.record_number = ? ORDER BY v.seq`,
    ),

    getViolationKeys: db.prepare<[number, number], ViolationKey>(
      'SELECT rule_id AS ruleId, severity, path FROM violations WHERE job_key = ? AND record_number = ?',
    ),
    addViolationCounts: db.prepare<[number, CountKind, string, string, number, number, number]>(
      `INSERT INTO violation_counts (job_key, kind, value, severity, record_valid, violations, records) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (job_key, kind, value, severity, record_valid)
       DO UPDATE SET violations = violations + excluded.violations, records = records + excluded.records`,
    ),
    // rule_id and severity are named so that the rows read as rule counts or as severity counts
    countsByKind: db.prepare<[number, CountKind], CountRow & { rule_id: string; severity: Severity }>(
      `SELECT value AS rule_id, severity, SUM(violations) AS violations, SUM(records) AS records FROM violation_counts
       WHERE job_key = ? AND kind = ? GROUP BY value, severity HAVING SUM(violations) > 0 ORDER BY violations DESC, value`,
    ),
    countsByKindAndValidity: db.prepare<[number, CountKind, number], CountRow & { rule_id: string; severity: Severity }>(
      `SELECT value AS rule_id, severity, violations, records FROM violation_counts
       WHERE job_key = ? AND kind = ? AND record_valid = ? AND violations > 0 ORDER BY violations DESC, value`,
    ),
    countsByPath: db.prepare<[number, number], CountRow & { path: string }>(
      `SELECT value AS path, SUM(violations) AS violations, SUM(records) AS records FROM violation_counts
       WHERE job_key = ? AND kind = 'path' GROUP BY value HAVING SUM(violations) > 0 ORDER BY violations DESC, value LIMIT ?`,
    ),

    getDlq: db.prepare<[string], DlqRow>(`SELECT ${DLQ_COLUMNS} FROM dlq WHERE id = ?`),
    getDlqByPosition: db
      .prepare<[string, number, number], string>('SELECT id FROM dlq WHERE kafka_topic = ? AND kafka_partition = ? AND kafka_offset = ?')
      .pluck(),
    insertDlq: db.prepare<[string, string | null, number | null, string, number, number, string, string, Buffer, number, number]>(
      `INSERT INTO dlq (id, job_id, record_number, kafka_topic, kafka_partition, kafka_offset, reason, code, payload, payload_size, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    markDlqReplayed: db.prepare<[number, string]>('UPDATE dlq SET replayed_at = ? WHERE id = ?'),

    claimUnique: db.prepare<[number, string, string, number]>(
      'INSERT INTO unique_claims (job_key, rule_id, key, record_number) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    uniqueOwner: db.prepare<[number, string, string], number>('SELECT record_number FROM unique_claims WHERE job_key = ? AND rule_id = ? AND key = ?'),
  };
}

interface RuleSetRow {
  name: string;
  version: number;
  document: string;
  created_at: number;
}

/**
 * An FTS5 query that matches `text` as a substring and nothing else: one string in double
 * quotes, its quotes doubled, so operators (AND, NEAR, `*`, `^`, `col:`) and brackets in it are
 * plain characters. The one character a quoted string cannot hold is NUL (`searchText` refuses it).
 */
function fts5Phrase(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

function toStoredRuleSet(row: RuleSetRow): StoredRuleSet {
  return { name: row.name, version: row.version, document: JSON.parse(row.document) as RuleSetDocument, createdAt: row.created_at };
}

function toListing(current: { name: string; versions: number[]; updatedAt: number }): RuleSetListing {
  return { name: current.name, latestVersion: current.versions.at(-1) ?? 0, versions: current.versions, updatedAt: current.updatedAt };
}

function toJob(row: JobRow): Job {
  const done = row.result_count + row.dlq_count;
  return {
    id: row.id,
    ruleSet: row.rule_set,
    ruleSetVersion: row.rule_set_version,
    total: row.total,
    createdAt: row.created_at,
    source: row.source,
    results: row.result_count,
    valid: row.valid_count,
    invalid: row.result_count - row.valid_count,
    dlq: row.dlq_count,
    progress: row.total === null ? null : row.total === 0 ? 1 : Math.min(1, done / row.total),
    uploadSha256: row.upload_sha256,
  };
}

function toRuleCount(row: CountRow & { rule_id: string; severity: Severity }): RuleCount {
  return { ruleId: row.rule_id, severity: row.severity, records: row.records, violations: row.violations };
}

function toSeverityCount(row: CountRow & { severity: Severity }): SeverityCount {
  return { severity: row.severity, records: row.records, violations: row.violations };
}

function toDlqEntry(row: DlqRow): DlqEntry {
  return {
    id: row.id,
    jobId: row.job_id,
    recordNumber: row.record_number,
    topic: row.kafka_topic,
    partition: row.kafka_partition,
    offset: row.kafka_offset,
    reason: row.reason,
    code: row.code,
    payload: row.payload,
    payloadSize: row.payload_size,
    payloadTruncated: row.payload.byteLength < row.payload_size,
    createdAt: row.created_at,
    replayedAt: row.replayed_at,
  };
}
