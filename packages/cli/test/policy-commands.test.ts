import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const docs = fileURLToPath(new URL('../../../docs/examples/', import.meta.url));
const trace = fileURLToPath(new URL('../../../data/traces/worldcup98-per-minute.csv.gz', import.meta.url));

function lagscale(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [main, ...args], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('lagscale policy eval', () => {
  it('prints the threshold decision with KEDA arithmetic for the documented example', () => {
    const r = lagscale(['policy', 'eval', `${docs}threshold-offsets.json`]);
    expect(r.code).toBe(0);
    const decision = JSON.parse(r.stdout) as { desiredReplicas: number; action: string; recommendation: { arithmetic: string; metric: { value: number } } };
    expect(decision.desiredReplicas).toBe(3);
    expect(decision.action).toBe('scale_up');
    expect(decision.recommendation.metric.value).toBe(300);
    expect(decision.recommendation.arithmetic).toContain('totalLag 901 capped at 3 partitions x 100 = 300');
  });

  it('reads stdin, and carries state between cycles so stabilization applies', () => {
    const doc = JSON.parse(
      JSON.stringify({
        policy: { name: 'threshold', lagThreshold: 10 },
        behavior: { minReplicas: 1, maxReplicas: 10 },
        currentReplicas: 4,
        time: 1_000_000,
        partitions: Array.from({ length: 8 }, (_, p) => ({ topic: 't', partition: p, committedOffset: 0, logEndOffset: 10 })),
      }),
    ) as Record<string, unknown>;
    const first = lagscale(['policy', 'eval', '--state'], JSON.stringify(doc));
    expect(first.code).toBe(0);
    const { decision, state } = JSON.parse(first.stdout) as { decision: { desiredReplicas: number }; state: unknown };
    expect(decision.desiredReplicas).toBe(8);
    // Lag gone a minute later: the 300 s scale-down window keeps the recent 8.
    const next = {
      ...doc,
      currentReplicas: 8,
      time: 1_060_000,
      state,
      partitions: Array.from({ length: 8 }, (_, p) => ({ topic: 't', partition: p, committedOffset: 10, logEndOffset: 10 })),
    };
    const second = JSON.parse(lagscale(['policy', 'eval'], JSON.stringify(next)).stdout) as { desiredReplicas: number; recommendation: { replicas: number } };
    expect(second.recommendation.replicas).toBe(0);
    expect(second.desiredReplicas).toBe(8);
  });

  it('lists each mistake with its path and exits 2', () => {
    const r = lagscale(['policy', 'eval'], JSON.stringify({ policy: { name: 'threshold', lagThreshold: 0, bogus: true }, currentReplicas: 1, partitions: [] }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policy.lagThreshold');
    expect(r.stderr).toContain('policy.bogus: unknown key');
    const unknown = lagscale(['policy', 'eval'], JSON.stringify({ policy: { name: 'magic' }, currentReplicas: 1, partitions: [] }));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('policy.name: unknown policy "magic"; use one of rate, threshold');
    const notJson = lagscale(['policy', 'eval'], '{ nope');
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('is not JSON');
  });
});

describe('lagscale simulate', () => {
  it('replays a slice of the World Cup trace under a policy and the oracle, as JSON', () => {
    const r = lagscale([
      'simulate',
      '--trace',
      trace,
      '--policy',
      'rate',
      '--start',
      '1998-06-10 00:00:00',
      '--duration',
      '86400',
      '--scale',
      '0.04',
      '--compression',
      '10',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      policy: { replicaSeconds: number; peakReplicas: number };
      oracle: { replicaSeconds: number };
      ratioToOracle: number;
    };
    expect(report.policy.replicaSeconds).toBeGreaterThan(0);
    expect(report.oracle.replicaSeconds).toBeGreaterThan(0);
    expect(report.ratioToOracle).toBeGreaterThanOrEqual(0.99);
    expect(r.stderr).toContain('simulating policy rate');
  });

  it('says what is wrong with a bad trace', () => {
    const r = lagscale(['simulate', '--trace', '/nonexistent.csv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/nonexistent.csv');
  });
});
