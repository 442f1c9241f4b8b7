import type { CompiledRuleSet } from '../rules/compile.js';
import { decodeRecord } from '../rules/decode.js';
import type { Violation } from '../rules/record-run.js';
import { AnsweredClaims, ClaimRecorder, type UniqueClaim, type UniquenessTracker } from '../rules/uniqueness.js';
import { RuleSetUnusableError, validateRecord, validationFailure } from '../rules/validate.js';

/**
 * The part of a batch's work that needs no I/O: decoding each record and running its rule set.
 * The worker runs it in validation threads (see `ValidationThreads`) or inline. Input and output
 * are flat arrays and one byte buffer, so that passing them between threads copies little.
 */
export interface ValidationInput {
  /** Epoch ms for now() in expressions, the same for the whole batch. */
  readonly now: number;
  readonly maxBytes: number;
  readonly maxDepth: number;
  /** The records' bytes, one after the other. */
  readonly data: Uint8Array;
  /** Where each record ends in `data`. */
  readonly ends: Uint32Array;
  /** Each record's rule set, as a key of the rule sets the validator was given (`ruleSetKey`). */
  readonly ruleSets: readonly string[];
  readonly jobIds: readonly string[];
  readonly recordNumbers: Float64Array;
  /** 1 when the store has the record's job; a record of an unknown job that decodes is a dead letter. */
  readonly jobKnown: Uint8Array;
  /** Records not to validate (they overran their budget or crashed a thread before): dead letters as given. */
  readonly skipped?: readonly { readonly index: number; readonly code: string; readonly reason: string }[];
  /**
   * Validating again with the store's answers to the claims (see ClaimRecorder): `unique` rules are
   * answered from these instead of the batch's own claims, and no claims are recorded.
   */
  readonly answered?: ClaimsOf;
}

/** Uniqueness claims as flat arrays (one entry per claim), with the answer to each. */
export interface ClaimsOf {
  readonly jobIds: readonly string[];
  readonly ruleIds: readonly string[];
  readonly keys: readonly string[];
  readonly recordNumbers: readonly number[];
  readonly answers: Uint8Array;
}

export const OUTCOME = { invalid: 0, valid: 1, deadLetter: 2 } as const;

export interface ValidationOutput {
  /** Per record: OUTCOME.valid, .invalid or .deadLetter. */
  readonly outcomes: Uint8Array;
  /** Per record: 1 when more violations were found than the rule set keeps. */
  readonly truncated: Uint8Array;
  /** Records with violations (their indexes), and the violations of each. */
  readonly violationRecords: number[];
  readonly violations: Violation[][];
  /** Dead letters: index, code and reason. */
  readonly deadLetterRecords: number[];
  readonly deadLetterCodes: string[];
  readonly deadLetterReasons: string[];
  /**
   * The uniqueness claims made against the batch alone, in order (see `ClaimRecorder`), with the
   * answers given; record i made claims [claimsFrom[i], claimsTo[i]).
   */
  readonly claims: {
    readonly jobIds: string[];
    readonly ruleIds: string[];
    readonly keys: string[];
    readonly recordNumbers: number[];
    readonly answers: Uint8Array;
  };
  readonly claimsFrom: Uint32Array;
  readonly claimsTo: Uint32Array;
}

export function ruleSetKey(name: string, version: number): string {
  return `${name}@${version}`;
}

/**
 * Decodes and validates every record of `input`; `ruleSet` gives the compiled rule set of a key
 * (for the record at an index), `onRecord` is told where the batch is (the thread's progress).
 */
export function validateBatch(
  input: ValidationInput,
  ruleSet: (key: string, index: number) => CompiledRuleSet,
  onRecord: (index: number) => void = () => {},
): ValidationOutput {
  const count = input.ends.length;
  const outcomes = new Uint8Array(count);
  const truncated = new Uint8Array(count);
  const claimsFrom = new Uint32Array(count);
  const claimsTo = new Uint32Array(count);
  const output = {
    violationRecords: [] as number[],
    violations: [] as Violation[][],
    deadLetterRecords: [] as number[],
    deadLetterCodes: [] as string[],
    deadLetterReasons: [] as string[],
  };
  const deadLetter = (index: number, code: string, reason: string): void => {
    outcomes[index] = OUTCOME.deadLetter;
    output.deadLetterRecords.push(index);
    output.deadLetterCodes.push(code);
    output.deadLetterReasons.push(reason);
  };
  const skipped = new Map((input.skipped ?? []).map((skip) => [skip.index, skip]));
  const answered = input.answered === undefined ? null : answeredByJob(input.answered);
  const recorders = new Map<string, ClaimRecorder>();
  const order: { jobId: string; recorder: ClaimRecorder; at: number }[] = [];
  let claimCount = 0;
  const limits = { maxBytes: input.maxBytes, maxDepth: input.maxDepth };
  let start = 0;
  for (let i = 0; i < count; i++) {
    claimsFrom[i] = claimCount;
    claimsTo[i] = claimCount;
    const end = input.ends[i] as number;
    const bytes = input.data.subarray(start, end);
    start = end;
    const jobId = input.jobIds[i] as string;
    const skip = skipped.get(i);
    if (skip !== undefined) {
      deadLetter(i, skip.code, skip.reason);
      continue;
    }
    onRecord(i);
    const decoded = decodeRecord(bytes, limits);
    if (!decoded.ok) {
      deadLetter(i, decoded.code, decoded.reason);
      continue;
    }
    if (input.jobKnown[i] !== 1) {
      deadLetter(i, 'unknown_job', `job "${jobId}" does not exist; create it, then replay this record`);
      continue;
    }
    let recorder = recorders.get(jobId);
    if (recorder === undefined) {
      recorder = new ClaimRecorder();
      recorders.set(jobId, recorder);
    }
    const before = recorder.claims.length;
    const recordNumber = input.recordNumbers[i] as number;
    // A key the validator was not given is the caller's bug and fails the batch; a rule set that
    // did not compile is its records' problem.
    const compiled = usableRuleSet(ruleSet, input.ruleSets[i] as string, i);
    if (compiled instanceof RuleSetUnusableError) {
      deadLetter(i, compiled.code, compiled.message);
      continue;
    }
    let result: ReturnType<typeof validateRecord>;
    try {
      const uniqueness: UniquenessTracker = answered === null ? recorder : (answered.get(jobId) ?? NO_ANSWERS);
      result = validateRecord(compiled, decoded.value, { jobId, recordNumber, uniqueness, now: input.now });
    } catch (error) {
      // Nothing a record or a rule set holds may stop the worker: the record is a dead letter, and
      // the claims it made before failing are not made for real.
      recorder.claims.length = before;
      recorder.answers.length = before;
      const failure = validationFailure(error);
      deadLetter(i, failure.code, failure.reason);
      continue;
    }
    outcomes[i] = result.valid ? OUTCOME.valid : OUTCOME.invalid;
    if (result.truncated) truncated[i] = 1;
    if (result.violations.length > 0) {
      output.violationRecords.push(i);
      output.violations.push(result.violations as Violation[]);
    }
    const made = recorder.claims.length - before;
    if (made > 0) order.push({ jobId, recorder, at: before });
    claimCount += made;
    claimsTo[i] = claimCount;
  }
  // Flatten the claims in record order (each record's claims are consecutive in its job's recorder).
  const claims = { jobIds: [] as string[], ruleIds: [] as string[], keys: [] as string[], recordNumbers: [] as number[], answers: new Uint8Array(claimCount) };
  let next = 0;
  for (let i = 0; i < count; i++) {
    const made = (claimsTo[i] as number) - (claimsFrom[i] as number);
    if (made === 0) continue;
    const entry = order[next++] as (typeof order)[number];
    for (let c = 0; c < made; c++) {
      const claim = entry.recorder.claims[entry.at + c];
      if (claim === undefined) continue;
      claims.answers[claims.jobIds.length] = entry.recorder.answers[entry.at + c] ? 1 : 0;
      claims.jobIds.push(entry.jobId);
      claims.ruleIds.push(claim.ruleId);
      claims.keys.push(claim.key);
      claims.recordNumbers.push(claim.recordNumber);
    }
  }
  return { outcomes, truncated, ...output, claims, claimsFrom, claimsTo };
}

const NO_ANSWERS = new AnsweredClaims([], []);

function answeredByJob(claims: ClaimsOf): Map<string, AnsweredClaims> {
  const byJob = new Map<string, { claims: UniqueClaim[]; answers: boolean[] }>();
  claims.jobIds.forEach((jobId, i) => {
    let entry = byJob.get(jobId);
    if (entry === undefined) {
      entry = { claims: [], answers: [] };
      byJob.set(jobId, entry);
    }
    entry.claims.push({ ruleId: claims.ruleIds[i] as string, key: claims.keys[i] as string, recordNumber: claims.recordNumbers[i] as number });
    entry.answers.push(claims.answers[i] === 1);
  });
  return new Map([...byJob].map(([jobId, entry]) => [jobId, new AnsweredClaims(entry.claims, entry.answers)]));
}

function usableRuleSet(ruleSet: (key: string, index: number) => CompiledRuleSet, key: string, index: number): CompiledRuleSet | RuleSetUnusableError {
  try {
    return ruleSet(key, index);
  } catch (error) {
    if (error instanceof RuleSetUnusableError) return error;
    throw error;
  }
}

/** The buffers of an output (or input) that can be moved to another thread instead of copied. */
export function transferables(value: ValidationOutput | ValidationInput): ArrayBuffer[] {
  const views =
    'outcomes' in value
      ? [value.outcomes, value.truncated, value.claims.answers, value.claimsFrom, value.claimsTo]
      : [value.data, value.ends, value.recordNumbers, value.jobKnown, ...(value.answered === undefined ? [] : [value.answered.answers])];
  return views.map((view) => view.buffer as ArrayBuffer);
}
