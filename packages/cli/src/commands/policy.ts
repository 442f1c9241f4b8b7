import { readFileSync } from 'node:fs';
import { resolvePolicy } from '@lagscale/autoscaler';
import {
  type BehaviorState,
  decide,
  initialBehaviorState,
  type LagSnapshot,
  type PolicyRecommendation,
  parseBehaviorConfig,
  ScalingConfigError,
  type ScalingInput,
  ScalingMetricUnavailableError,
  scalingInputFromSnapshot,
} from '@lagscale/core';
import type { Command } from 'commander';
import { ConfigError } from '../config.js';

/** The document `lagscale policy eval` reads; see docs/policy-eval.md. */
interface EvalDocument {
  policy?: Record<string, unknown>;
  behavior?: Record<string, unknown>;
  group?: string;
  /** Instead of `group`: a share group (KIP-932), not capped by partitions. */
  shareGroup?: string;
  /** The share group's maximum size (group.share.max.size); default 200. */
  shareGroupMaxSize?: number;
  currentReplicas?: number;
  readyReplicas?: number;
  time?: number | string;
  snapshot?: LagSnapshot;
  partitions?: ScalingInput['partitions'];
  produceRate?: number | null;
  consumeRate?: number | null;
  activeConsumers?: number;
  timeLagSeconds?: number | null;
  state?: { policy?: unknown; behavior?: BehaviorState };
}

function fail(problems: string[]): never {
  throw new ConfigError(`the input document has ${problems.length} problem${problems.length > 1 ? 's' : ''}:\n  - ${problems.join('\n  - ')}`);
}

function toInput(doc: EvalDocument): ScalingInput {
  const problems: string[] = [];
  if (!Number.isInteger(doc.currentReplicas) || (doc.currentReplicas as number) < 0) problems.push('currentReplicas: must be a whole number >= 0');
  const time = doc.time === undefined ? (doc.snapshot?.time ?? Date.now()) : typeof doc.time === 'string' ? Date.parse(doc.time) : doc.time;
  if (doc.readyReplicas !== undefined && !(Number.isInteger(doc.readyReplicas) && doc.readyReplicas >= 0))
    problems.push('readyReplicas: must be a whole number >= 0 (default: currentReplicas, all ready)');
  if (!Number.isFinite(time)) problems.push('time: must be epoch milliseconds or an ISO date');
  if (doc.snapshot !== undefined && doc.partitions !== undefined) problems.push('give either snapshot or partitions, not both');
  if (doc.snapshot === undefined && doc.partitions === undefined) problems.push('partitions (or snapshot): required, the offsets to decide on');
  if (doc.group !== undefined && doc.shareGroup !== undefined) problems.push('shareGroup: give either group or shareGroup, not both');
  if (doc.shareGroupMaxSize !== undefined && !(Number.isInteger(doc.shareGroupMaxSize) && doc.shareGroupMaxSize >= 1))
    problems.push('shareGroupMaxSize: must be a whole number >= 1');
  if (problems.length > 0) fail(problems);
  const current = doc.currentReplicas as number;
  // A what-if tool: without a ready count every current replica is taken as ready.
  const ready = doc.readyReplicas ?? current;
  const share = doc.shareGroup !== undefined ? { kind: 'share' as const, maxGroupSize: doc.shareGroupMaxSize ?? null } : null;
  if (doc.snapshot !== undefined && share !== null) {
    const shareGroups = doc.snapshot.shareGroups ?? [];
    const input = scalingInputFromSnapshot({ ...doc.snapshot, time: time as number }, doc.shareGroup as string, current, ready, share);
    if (!input) fail([`shareGroup: "${doc.shareGroup}" is not in the snapshot (it has ${shareGroups.map((g) => g.group).join(', ') || 'no share groups'})`]);
    return input;
  }
  if (doc.snapshot !== undefined) {
    const groups = doc.snapshot.groups ?? [];
    const group = doc.group ?? (groups.length === 1 ? groups[0]?.group : undefined);
    if (!group) fail([`group: required when the snapshot holds ${groups.length} groups (${groups.map((g) => g.group).join(', ')})`]);
    const input = scalingInputFromSnapshot({ ...doc.snapshot, time: time as number }, group, current, ready);
    if (!input) fail([`group: "${group}" is not in the snapshot (it has ${groups.map((g) => g.group).join(', ') || 'no groups'})`]);
    return input;
  }
  (doc.partitions ?? []).forEach((p, i) => {
    if (typeof p?.topic !== 'string') problems.push(`partitions.${i}.topic: must be a string`);
    if (!Number.isInteger(p?.partition)) problems.push(`partitions.${i}.partition: must be a whole number`);
    for (const field of ['committedOffset', 'logEndOffset', 'logStartOffset'] as const) {
      const v = p?.[field];
      if (v !== null && v !== undefined && !(Number.isInteger(v) && v >= 0)) problems.push(`partitions.${i}.${field}: must be a whole number >= 0 or null`);
    }
  });
  if (problems.length > 0) fail(problems);
  return {
    time: time as number,
    group: doc.shareGroup ?? doc.group ?? 'group',
    ...(share === null ? {} : { groupKind: 'share' as const, maxGroupSize: share.maxGroupSize }),
    currentReplicas: current,
    readyReplicas: ready,
    partitions: (doc.partitions ?? []).map((p) => ({
      topic: p.topic,
      partition: p.partition,
      committedOffset: p.committedOffset ?? null,
      logEndOffset: p.logEndOffset ?? null,
      logStartOffset: p.logStartOffset ?? null,
    })),
    produceRate: doc.produceRate ?? null,
    consumeRate: doc.consumeRate ?? null,
    activeConsumers: doc.activeConsumers ?? current,
    timeLagSeconds: doc.timeLagSeconds ?? null,
  };
}

export function registerPolicyCommand(program: Command): void {
  const policyCommand = program.command('policy').description('ask what the autoscaler would do');
  policyCommand
    .command('eval [file]')
    .description(
      'read a JSON document (offsets or a lag snapshot, replicas, policy, behavior, optional state) from a file or stdin; print the decision as JSON',
    )
    .option('--state', 'also print the policy and behavior state to pass back as "state" for the next cycle')
    .action((file: string | undefined, flags: { state?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(file ?? 0, 'utf8');
      } catch (error) {
        throw new ConfigError(`cannot read ${file ?? 'stdin'}: ${(error as Error).message}`);
      }
      let doc: EvalDocument;
      try {
        doc = JSON.parse(text) as EvalDocument;
      } catch (error) {
        throw new ConfigError(`${file ?? 'stdin'} is not JSON: ${(error as Error).message}`);
      }
      if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('the input must be a JSON object (see docs/policy-eval.md)');
      let policy: ReturnType<typeof resolvePolicy>;
      let behavior: ReturnType<typeof parseBehaviorConfig>;
      try {
        policy = resolvePolicy(doc.policy, 'policy');
        behavior = parseBehaviorConfig(doc.behavior ?? {}, 'behavior');
      } catch (error) {
        if (error instanceof ScalingConfigError) throw new ConfigError(error.message);
        throw error;
      }
      const input = toInput(doc);
      let recommendation: PolicyRecommendation | null = null;
      let policyState = doc.state?.policy ?? policy.policy.initialState(policy.config);
      try {
        const result = policy.policy.recommend(input, policy.config, policyState);
        recommendation = result.recommendation;
        policyState = result.state;
      } catch (error) {
        if (!(error instanceof ScalingMetricUnavailableError)) throw error;
      }
      const { decision, state } = decide({ input, policy: policy.name, recommendation, behavior, state: doc.state?.behavior ?? initialBehaviorState() });
      const output = flags.state ? { decision, state: { policy: policyState, behavior: state } } : decision;
      process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    });
}
