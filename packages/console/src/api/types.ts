/**
 * The shapes of docs/http-api.md, as the console reads them. Records that travel as they are
 * (a partition's lag, a scaling decision, the behavior) use the core's types, imported for types
 * only (erased from the bundle); the API's own shapes (summaries, JSON views of stored data) are
 * written here, in step with the contract document.
 */
import type { BehaviorConfig, PartitionLag, ScalingDecision, Status } from '@lagscale/core';
import type { RuleCount, SeverityCount } from '@lagscale/validator';

export type {
  BehaviorConfig,
  PartitionLag,
  PartitionOwner,
  PolicyRecommendation,
  ScalingAction,
  ScalingDecision,
  ScalingRules,
} from '@lagscale/core';
export type LagStatus = Status;
// A job's summary is stored and served as it is.
export type { FieldCount, JobSummary, RuleCount, SeverityCount, ViolationCount } from '@lagscale/validator';

/** Body of every 4xx/5xx answer. */
export interface ApiErrorBody {
  readonly error: string;
  readonly message: string;
  readonly details?: readonly ErrorDetail[];
}

export interface ErrorDetail {
  /** JSON pointer of the mistake, e.g. `/rules/3/pattern`; may be empty for the whole document. */
  readonly pointer: string;
  readonly message: string;
}

// ---- Lag ----

/** A group as `GET /api/v1/groups` lists it: without partitions, with their count. */
export interface GroupSummary {
  readonly group: string;
  readonly state: string;
  readonly members: number;
  readonly isolation: string;
  readonly status: LagStatus;
  readonly statusReason: string;
  readonly lag: number;
  /** False when some partition's lag is unknown, so `lag` is a lower bound. */
  readonly lagComplete: boolean;
  readonly timeLagSeconds: number | null;
  readonly produceRate: number | null;
  readonly consumeRate: number | null;
  readonly topics: readonly string[];
  readonly partitionCount: number;
  readonly error?: string;
}

export interface GroupDetail extends Omit<GroupSummary, 'partitionCount'> {
  readonly partitions: readonly PartitionLag[];
}

export interface CollectionError {
  readonly broker: string;
  readonly operation: string;
  readonly message: string;
}

/** A share group (KIP-932, Kafka 4.2+ queues) as `GET /api/v1/groups` lists it. */
export interface ShareGroupSummary {
  readonly group: string;
  readonly state: string;
  readonly members: number;
  readonly status: LagStatus;
  readonly statusReason: string;
  /** Records not yet acknowledged, summed over the known share-partitions. */
  readonly lag: number;
  /** False when some partition's lag is unknown or only an upper bound (a broker that does not count it). */
  readonly lagExact: boolean;
  readonly timeLagSeconds: number | null;
  readonly produceRate: number | null;
  readonly acknowledgeRate: number | null;
  readonly topics: readonly string[];
  readonly partitionCount: number;
  readonly error?: string;
}

export interface SharePartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** Null while the share-partition has no state (no member fetched from it). */
  readonly startOffset: number | null;
  readonly logEndOffset: number | null;
  readonly lag: number | null;
  /** `exact`: the broker's count; `upper_bound`: end − start, from a broker that does not count. */
  readonly lagMode: 'exact' | 'upper_bound' | null;
  readonly timeLagSeconds: number | null;
  readonly timeLagMode: 'estimate' | 'exact' | null;
  readonly produceRate: number | null;
  readonly acknowledgeRate: number | null;
  readonly status: LagStatus;
  readonly statusReason: string;
  readonly error?: string;
}

export interface ShareGroupDetailResponse {
  readonly time: string;
  readonly group: Omit<ShareGroupSummary, 'partitionCount'> & { readonly partitions: readonly SharePartitionLag[] };
}

export interface GroupsResponse {
  /** ISO time of the collection. */
  readonly time: string;
  readonly groups: readonly GroupSummary[];
  /** Absent from servers before share groups were read. */
  readonly shareGroups?: readonly ShareGroupSummary[];
  readonly errors: readonly CollectionError[];
}

export interface GroupDetailResponse {
  readonly time: string;
  readonly group: GroupDetail;
}

/** One lag collection of one group (`GET /api/v1/history`, `event: point`). */
export interface HistoryPoint {
  /** Epoch ms. */
  readonly t: number;
  readonly lag: number;
  readonly timeLagSeconds: number | null;
  readonly consumeRate: number | null;
  readonly produceRate: number | null;
  readonly currentReplicas: number | null;
  readonly desiredReplicas: number | null;
}

export interface HistoryResponse {
  readonly points: readonly HistoryPoint[];
}

export interface PointEvent {
  readonly group: string;
  readonly point: HistoryPoint;
}

// ---- Autoscaler ----

/** A JSON value, for configuration shown as it is. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface AutoscalerState {
  readonly group: string;
  readonly target: string;
  readonly currentReplicas: number;
  readonly desiredReplicas: number | null;
  readonly paused: boolean;
  readonly policy: { readonly name: string; readonly config?: JsonValue };
  readonly behavior: BehaviorConfig;
  readonly lastDecision: ScalingDecision | null;
}

export interface DecisionsResponse {
  readonly decisions: readonly ScalingDecision[];
}

// ---- Validation ----

export type Severity = 'error' | 'warning';

export interface RuleSetListing {
  readonly name: string;
  readonly latestVersion: number;
  readonly versions: readonly number[];
  readonly updatedAt: number;
}

export interface StoredRuleSet {
  readonly name: string;
  readonly version: number;
  readonly document: JsonValue;
  readonly createdAt: number;
}

export type RuleSetCheck = { readonly valid: true } | { readonly valid: false; readonly errors: readonly ErrorDetail[] };

export interface Job {
  readonly id: string;
  readonly ruleSet: string;
  readonly ruleSetVersion: number;
  readonly total: number | null;
  readonly createdAt: number;
  readonly source: string;
  readonly results: number;
  readonly valid: number;
  readonly invalid: number;
  readonly dlq: number;
  /** 0..1; null while the total is unknown. */
  readonly progress: number | null;
}

export interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor: string | null;
}

export interface Violation {
  readonly ruleId: string;
  readonly severity: Severity;
  readonly path: string;
  readonly message: string;
}

export interface ValidationResult {
  readonly jobId: string;
  readonly recordNumber: number;
  readonly valid: boolean;
  readonly violations: readonly Violation[];
  readonly truncated: boolean;
  /** The record as JSON text. */
  readonly record?: string;
  readonly recordOmitted: boolean;
}

export interface ResultFacets {
  readonly records: number;
  readonly byRule: readonly RuleCount[];
  readonly bySeverity: readonly SeverityCount[];
}

export interface ResultPage extends Page<ValidationResult> {
  readonly facets?: ResultFacets;
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
  readonly payloadBase64: string;
  /** UTF-8 text when the payload decodes, else null. */
  readonly payloadText: string | null;
  readonly payloadSize: number;
  readonly payloadTruncated: boolean;
  readonly createdAt: number;
  readonly replayedAt: number | null;
}

export interface ReplayResponse {
  readonly id: string;
  readonly replayedAt: number;
}
