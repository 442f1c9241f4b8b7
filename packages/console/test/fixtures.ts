import type { AutoscalerState, GroupSummary, GroupsResponse, Job, ScalingDecision } from '../src/api/types';

export function groupSummary(overrides: Partial<GroupSummary> = {}): GroupSummary {
  return {
    group: 'orders-validator',
    state: 'Stable',
    members: 2,
    isolation: 'read_uncommitted',
    status: 'OK',
    statusReason: 'consuming',
    lag: 1200,
    lagComplete: true,
    timeLagSeconds: 4.2,
    produceRate: 350,
    consumeRate: 310,
    topics: ['validation.requests'],
    partitionCount: 6,
    ...overrides,
  };
}

export function groupsResponse(groups: readonly GroupSummary[], time = '2026-11-25T10:00:00.000Z'): GroupsResponse {
  return { time, groups, errors: [] };
}

export function decision(overrides: Partial<ScalingDecision> = {}): ScalingDecision {
  return {
    time: Date.parse('2026-11-25T10:00:00.000Z'),
    group: 'orders-validator',
    policy: 'lag',
    currentReplicas: 2,
    desiredReplicas: 4,
    action: 'scale_up',
    inputs: { lag: 1234, timeLagSeconds: 12, produceRate: 350, consumeRate: 310, activeConsumers: 2, partitions: 6 },
    recommendation: {
      policy: 'lag',
      replicas: 4,
      active: true,
      metric: { name: 'lag', value: 1234, target: 300 },
      arithmetic: 'ceil(1234 / 300) = 5, capped at 4 partitions... ',
      reason: 'lag above target',
    },
    adjustments: ['scaleUp policy Pods 2 per 60s: 5 -> 4'],
    reason: 'lag 1234 is above the target 300 per replica',
    ...overrides,
  };
}

export function autoscalerState(overrides: Partial<AutoscalerState> = {}): AutoscalerState {
  const rules = { stabilizationWindowSeconds: 0, selectPolicy: 'Max' as const, policies: [{ type: 'Pods' as const, value: 2, periodSeconds: 60 }] };
  return {
    group: 'orders-validator',
    target: 'local',
    currentReplicas: 2,
    desiredReplicas: 4,
    paused: false,
    policy: { name: 'lag', config: { lagPerReplica: 300 } },
    behavior: {
      minReplicas: 1,
      maxReplicas: 6,
      idleReplicas: null,
      cooldownSeconds: 300,
      scaleUp: rules,
      scaleDown: { ...rules, stabilizationWindowSeconds: 300 },
      fallback: null,
      paused: false,
    },
    lastDecision: decision(),
    ...overrides,
  };
}

export function job(overrides: Partial<Job> = {}): Job {
  return {
    id: 'job-1',
    ruleSet: 'customer-orders',
    ruleSetVersion: 3,
    total: 100,
    createdAt: Date.parse('2026-11-25T10:00:00.000Z'),
    source: 'upload:orders.ndjson',
    results: 0,
    valid: 0,
    invalid: 0,
    dlq: 0,
    progress: 0,
    ...overrides,
  };
}
