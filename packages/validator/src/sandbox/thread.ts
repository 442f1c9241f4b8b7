/**
 * A validation thread (see SandboxPool): compiles rule sets and validates records, telling the
 * main thread through shared memory which compile or record it is on, so that one that overruns
 * its budget can be stopped. Compiled rule sets are kept for the rule sets in use, a bounded few.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type CompiledRuleSet, compileRuleSet } from '../rules/compile.js';
import { decodeRecord } from '../rules/decode.js';
import { RuleSetError } from '../rules/rule-set-error.js';
import { checkRuleSetFormat } from '../rules/rule-set-format.js';
import { InMemoryUniquenessTracker } from '../rules/uniqueness.js';
import { RuleSetUnusableError, validateRecord, validationFailure } from '../rules/validate.js';
import { transferables, validateBatch } from '../worker/batch-validation.js';
import type { DryRunResult, FromThread, ToThread } from './messages.js';
import { PHASE, Progress } from './progress.js';

const port = parentPort;
if (port === null) throw new Error('thread.js runs as a worker thread, not as a program');
const progress = new Progress((workerData as { progress: SharedArrayBuffer }).progress);
// The rule set format's own validator, compiled once per thread before any budget runs: not a cost of the first rule set.
checkRuleSetFormat({});

/** A dry-run record sits inside the request body, whose depth the API already bounded. */
const DRY_RUN_MAX_DEPTH = 1_000;

/** Compiled rule sets (or why one cannot be used) by key, least recently used dropped past the bound. */
const KEPT_RULE_SETS = 64;
const compiled = new Map<string, CompiledRuleSet | RuleSetUnusableError>();

/** The compiled rule set of `key`, compiled from `document` the first time (timed as a compile for record `index`). */
function ruleSetFor(key: string, document: unknown, index: number): CompiledRuleSet | RuleSetUnusableError {
  let entry = compiled.get(key);
  if (entry !== undefined) compiled.delete(key);
  else {
    progress.enter(PHASE.compile, index);
    entry = compileOrError(key, document);
    progress.enter(PHASE.record, index);
  }
  compiled.set(key, entry);
  if (compiled.size > KEPT_RULE_SETS) compiled.delete(compiled.keys().next().value as string);
  return entry;
}

function compileOrError(key: string, document: unknown): CompiledRuleSet | RuleSetUnusableError {
  try {
    return compileRuleSet(document);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return new RuleSetUnusableError(`rule set ${key} cannot be used: ${message.slice(0, 1000)}; save a corrected version, then replay this record`);
  }
}

function handle(message: ToThread): { reply: FromThread; transfer: ArrayBuffer[] } {
  switch (message.type) {
    case 'batch': {
      const documents = new Map(message.documents);
      const output = validateBatch(
        message.input,
        (key, index) => {
          // A key without its document is the caller's bug: it fails the batch, not the records.
          if (!documents.has(key) && !compiled.has(key)) throw new Error(`rule set ${key} was not handed to the validator`);
          const entry = ruleSetFor(key, documents.get(key), index);
          if (entry instanceof RuleSetUnusableError) throw entry;
          return entry;
        },
        (index) => progress.enter(PHASE.record, index),
      );
      return { reply: { id: message.id, type: 'batch', output }, transfer: transferables(output) };
    }
    case 'check': {
      progress.enter(PHASE.compile, 0);
      try {
        compileRuleSet(message.document);
        return { reply: { id: message.id, type: 'check', issues: null }, transfer: [] };
      } catch (error) {
        if (!(error instanceof RuleSetError)) throw error;
        const issues = error.issues.map(({ pointer, message: text }) => ({ pointer, message: text }));
        return { reply: { id: message.id, type: 'check', issues }, transfer: [] };
      }
    }
    case 'dryRun':
      return { reply: dryRun(message), transfer: [] };
  }
}

function dryRun(message: Extract<ToThread, { type: 'dryRun' }>): FromThread {
  const ruleSet = ruleSetFor(message.key, message.document, 0);
  if (ruleSet instanceof RuleSetUnusableError) return { id: message.id, type: 'dryRun', results: [], unusable: ruleSet.message };
  const skipped = new Map(message.skipped.map((skip) => [skip.index, skip]));
  const uniqueness = new InMemoryUniquenessTracker();
  const results: DryRunResult[] = message.records.map((text, index) => {
    const skip = skipped.get(index);
    if (skip !== undefined) return { index, valid: false, violations: [], deadLetter: { code: skip.code, reason: skip.reason } };
    progress.enter(PHASE.record, index);
    // The API checked each record's size and depth; decoding again keeps numbers beyond 2^53 exact.
    const decoded = decodeRecord(Buffer.from(text, 'utf8'), { maxBytes: Number.MAX_SAFE_INTEGER, maxDepth: DRY_RUN_MAX_DEPTH });
    if (!decoded.ok) return { index, valid: false, violations: [], deadLetter: { code: decoded.code, reason: decoded.reason } };
    try {
      const result = validateRecord(ruleSet, decoded.value, { jobId: 'dry-run', recordNumber: index + 1, uniqueness, now: message.now });
      return { index, valid: result.valid, violations: result.violations, ...(result.truncated === true ? { truncated: true as const } : {}) };
    } catch (error) {
      // What the worker does with such a record: a dead letter with the reason.
      const { code, reason } = validationFailure(error);
      return { index, valid: false, violations: [], deadLetter: { code, reason } };
    }
  });
  return { id: message.id, type: 'dryRun', results };
}

port.on('message', (message: ToThread) => {
  try {
    const { reply, transfer } = handle(message);
    progress.idle();
    port.postMessage(reply, transfer);
  } catch (error) {
    progress.idle();
    port.postMessage({ id: message.id, type: 'error', error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies FromThread);
  }
});
