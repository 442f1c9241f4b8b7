import type { RuleSetDocument, Severity } from '../rules/rule-set.js';
import type { UniqueClaim, UniquenessTracker } from '../rules/uniqueness.js';

/**
 * Where the validation service keeps rule sets, jobs, per-record results, the dead-letter queue
 * and uniqueness claims. `SqliteResultStore` is the embedded implementation (one host);
 * `OpenSearchResultStore` is shared by workers and APIs on any number of hosts.
 *
 * Times are epoch milliseconds. Lists are paginated with opaque cursors: pass `nextCursor` back
 * unchanged; `null` means there is no further page.
 */
export interface ResultStore {
  /**
   * Saves a rule set version. Versions are immutable: saving the same name and version again with
   * an equal document (key order does not matter) is a no-op that returns the stored one with
   * `created: false`; with a different document it throws `StoreError` code `RULE_SET_VERSION_CHANGED`.
   */
  saveRuleSet(name: string, version: number, document: RuleSetDocument, createdAt: number): Promise<SaveRuleSetResult>;
  /** The given version, or the latest when `version` is absent; undefined when there is none. */
  getRuleSet(name: string, version?: number): Promise<StoredRuleSet | undefined>;
  /** Every rule set name with its versions, by name. */
  listRuleSets(): Promise<RuleSetListing[]>;

  /**
   * Creates a job for a saved rule set version (else `RULE_SET_NOT_FOUND`). Creating the same job
   * again with the same definition is a no-op; with another definition it throws `JOB_EXISTS`.
   */
  createJob(job: NewJob): Promise<Job>;
  /**
   * Sets the number of records once it is known, never below the results stored. `uploadSha256`:
   * the upload was read to the end (not cut short by a failure) and this is its digest, so a
   * resubmission with other content can be refused.
   */
  setJobTotal(id: string, total: number, uploadSha256?: string): Promise<void>;
  getJob(id: string): Promise<Job | undefined>;
  /** Newest first. */
  listJobs(query: PageQuery): Promise<Page<Job>>;

  /**
   * Stores a batch of results in one transaction, all or nothing, and resolves when it is durable
   * (see the implementation for what durable means there). Idempotent by (jobId, recordNumber): a
   * redelivered record replaces its earlier result and its violations, so nothing is counted twice.
   * Every job must exist (else `JOB_NOT_FOUND`, and nothing of the batch is stored).
   * `rejected` lists results the store refused for what they hold (never for an outage, which is
   * retried or thrown): the caller must dead-letter them, or they are lost.
   */
  upsertResults(batch: readonly ResultInput[]): Promise<UpsertOutcome>;
  /** Results of one job in record order, with facets for the same filter. */
  searchResults(query: ResultQuery): Promise<ResultPage>;
  /** One record's result; undefined when the record has none (yet), `JOB_NOT_FOUND` when the job does not exist. */
  getResult(jobId: string, recordNumber: number): Promise<StoredResult | undefined>;
  /** Undefined when the job does not exist. */
  jobSummary(jobId: string): Promise<JobSummary | undefined>;

  /**
   * Records a message that could not be validated. Idempotent by (topic, partition, offset): a
   * redelivered message returns the entry stored the first time (`created: false`, its own id).
   */
  addDlq(entry: DlqInput): Promise<AddDlqResult>;
  /**
   * `addDlq` for several entries in one transaction (a worker's batch), answers in the same
   * order; all or none are stored (one that fails, e.g. `DLQ_ID_CONFLICT`, stores none).
   */
  addDlqBatch(entries: readonly DlqInput[]): Promise<AddDlqResult[]>;
  /** Newest first; all jobs when `jobId` is absent. */
  listDlq(query: DlqQuery): Promise<Page<DlqEntry>>;
  getDlq(id: string): Promise<DlqEntry | undefined>;
  /** Notes that the message was sent back for another try (throws `DLQ_NOT_FOUND` for an unknown id). */
  markDlqReplayed(id: string, at: number): Promise<void>;

  /**
   * Claims values of `unique` rules for records of one job, in order, first writer wins across
   * every worker; answers for each claim whether another record of the job holds the value (a
   * redelivered record's own claim is not a duplicate). `JOB_NOT_FOUND` when the job is not stored.
   */
  claimUnique(jobId: string, claims: readonly UniqueClaim[]): Promise<boolean[]>;

  close(): Promise<void>;
}

/**
 * Uniqueness claims answered synchronously, for callers that validate one record at a time
 * against the store itself (tests, tools); only a local store (SQLite) can offer it. The worker
 * uses `ResultStore.claimUnique`, a batch at a time.
 */
export interface UniquenessBacking {
  /** A tracker for one job: (ruleId, key) → the first record number that claimed it. */
  uniquenessTracker(jobId: string): UniquenessTracker;
}

export interface StoredRuleSet {
  readonly name: string;
  readonly version: number;
  readonly document: RuleSetDocument;
  readonly createdAt: number;
}

export interface SaveRuleSetResult {
  readonly ruleSet: StoredRuleSet;
  /** False when this exact version was stored already. */
  readonly created: boolean;
}

export interface RuleSetListing {
  readonly name: string;
  readonly latestVersion: number;
  /** Ascending. */
  readonly versions: readonly number[];
  /** When the latest version was saved. */
  readonly updatedAt: number;
}

export interface NewJob {
  readonly id: string;
  readonly ruleSet: string;
  readonly ruleSetVersion: number;
  /** Number of records; null until known (a stream, or an upload still being read). */
  readonly total: number | null;
  readonly createdAt: number;
  /** Where the records come from, for people: `upload:orders.ndjson`, `topic:validation.requests`. */
  readonly source: string;
}

export interface Job extends NewJob {
  /** Records with a stored result. */
  readonly results: number;
  readonly valid: number;
  readonly invalid: number;
  /** Dead-letter entries of this job not replayed yet: records that have no result and will get none. */
  readonly dlq: number;
  /**
   * (results + dlq) / total, at most 1; null while the total is unknown. A record in the DLQ counts
   * as done, or a job with one undecodable record would never finish.
   */
  readonly progress: number | null;
  /** SHA-256 (hex) of the job's upload once it was read to the end; null while it is read, and after an upload cut short (it may be submitted again). */
  readonly uploadSha256: string | null;
}

export interface StoredViolation {
  readonly ruleId: string;
  readonly severity: Severity;
  /** JSON pointer of the offending field. */
  readonly path: string;
  readonly message: string;
}

export interface ResultInput {
  readonly jobId: string;
  /** The record's position in its job, from 0 or 1 as the job numbers them. */
  readonly recordNumber: number;
  readonly valid: boolean;
  readonly violations: readonly StoredViolation[];
  /** Set when the rule engine kept fewer violations than it found. */
  readonly truncated?: boolean;
  /**
   * The record as JSON text, kept for display; dropped (see `recordOmitted`) when over the store's
   * size cap. Bytes are taken as its UTF-8 text as they are (the worker hands over the bytes it
   * decoded, so no string is made for it).
   */
  readonly record?: string | Uint8Array;
}

export interface UpsertOutcome {
  readonly rejected: readonly RejectedResult[];
}

export interface RejectedResult {
  /** Index in the batch. */
  readonly index: number;
  /** Why the store refused it, for the DLQ entry. */
  readonly reason: string;
}

export interface StoredResult {
  readonly jobId: string;
  readonly recordNumber: number;
  readonly valid: boolean;
  /** Every stored violation of the record, in the order the rule engine reported them. */
  readonly violations: readonly StoredViolation[];
  readonly truncated: boolean;
  /** The record as JSON text, when it was given and within the size cap. */
  readonly record?: string;
  /** True when a record was given but was over the size cap. */
  readonly recordOmitted: boolean;
}

export interface PageQuery {
  /** 1 to 1000. */
  readonly limit: number;
  readonly cursor?: string;
}

export interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor: string | null;
}

/**
 * Filters on results. `ruleId`, `severity`, `field` and `text` are about violations: a record
 * matches when ONE of its violations satisfies all of them together.
 */
export interface ResultQuery extends PageQuery {
  readonly jobId: string;
  readonly valid?: boolean;
  readonly ruleId?: string;
  readonly severity?: Severity;
  /** A JSON pointer: the violation is at this field or inside it (`/items` matches `/items/2/sku`, not `/itemsX`). */
  readonly field?: string;
  /** Part of the message, case-insensitive. */
  readonly text?: string;
  /** Computing facets costs an aggregate over every match; false skips it (e.g. for pages after the first). Default true. */
  readonly facets?: boolean;
}

export interface ResultPage extends Page<StoredResult> {
  /** Absent when the query asked for none. */
  readonly facets?: ResultFacets;
}

/** Counts over every match of the filter, not only the page. */
export interface ResultFacets {
  /** Records that match. */
  readonly records: number;
  /** Among the matching violations (all violations of the matching records when no violation filter is given). */
  readonly byRule: readonly RuleCount[];
  readonly bySeverity: readonly SeverityCount[];
}

export interface ViolationCount {
  /** Distinct records. */
  readonly records: number;
  readonly violations: number;
}

export interface RuleCount extends ViolationCount {
  readonly ruleId: string;
  readonly severity: Severity;
}

export interface SeverityCount extends ViolationCount {
  readonly severity: Severity;
}

export interface FieldCount extends ViolationCount {
  /** The concrete JSON pointer (`/items/2/sku`). */
  readonly path: string;
}

export interface JobSummary {
  readonly jobId: string;
  /** Records with a result. */
  readonly records: number;
  readonly valid: number;
  readonly invalid: number;
  /** Valid records that have warnings. */
  readonly warningsOnly: number;
  /** Records whose violations were truncated by the rule engine. */
  readonly truncated: number;
  readonly violations: number;
  /** Most violations first. */
  readonly byRule: readonly RuleCount[];
  /** Most violations first; at most `SUMMARY_FIELD_LIMIT` paths. */
  readonly byField: readonly FieldCount[];
  /** True when there were more field paths than `byField` lists. */
  readonly byFieldTruncated: boolean;
  readonly bySeverity: readonly SeverityCount[];
}

export const SUMMARY_FIELD_LIMIT = 200;

export interface DlqInput {
  /** Chosen by the caller (a UUID); a redelivery may bring a new one, the first one stays. */
  readonly id: string;
  readonly jobId?: string;
  readonly recordNumber?: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** For people: `invalid JSON at byte 5: expected a value, found '}'`. */
  readonly reason: string;
  /** For programs: `invalid_json`, `too_large`... */
  readonly code: string;
  /** The message value as received; cut to the store's cap (see `payloadSize`). */
  readonly payload: Uint8Array;
  /**
   * The size of the record as received, when `payload` holds only its first bytes (an upload's
   * oversized record is never held whole). Default: the payload's length.
   */
  readonly payloadSize?: number;
  readonly createdAt: number;
}

export interface AddDlqResult {
  /** The id of the stored entry: the one given, or the first one for a redelivered message. */
  readonly id: string;
  readonly created: boolean;
}

export interface DlqEntry {
  readonly id: string;
  readonly jobId: string | null;
  readonly recordNumber: number | null;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly reason: string;
  readonly code: string;
  /** At most the store's payload cap. */
  readonly payload: Uint8Array;
  /** Size of the payload as received. */
  readonly payloadSize: number;
  readonly payloadTruncated: boolean;
  readonly createdAt: number;
  readonly replayedAt: number | null;
}

export interface DlqQuery extends PageQuery {
  readonly jobId?: string;
}

export type StoreErrorCode =
  | 'RULE_SET_VERSION_CHANGED'
  | 'RULE_SET_NOT_FOUND'
  | 'JOB_EXISTS'
  | 'JOB_NOT_FOUND'
  | 'DLQ_ID_CONFLICT'
  | 'DLQ_NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'INVALID_CURSOR'
  | 'SCHEMA_TOO_NEW'
  | 'STORE_CLOSED'
  /** The store did not answer (down, overloaded, read-only) within the time it is given to retry. */
  | 'STORE_UNAVAILABLE'
  /** The store refused the credentials or their permissions. */
  | 'STORE_AUTH_FAILED';

export class StoreError extends Error {
  override readonly name = 'StoreError';

  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}
