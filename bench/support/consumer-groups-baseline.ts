/**
 * The "what an operator runs" baseline: `kafka-consumer-groups --describe --all-groups`, timed end to
 * end with its JVM start (that cold start is what this baseline measures), `runs` times in a row.
 */
import { parseDescribeOutput, runConsumerGroupsCommand } from '../../test-support/consumer-groups-command.js';

export interface ConsumerGroupsBaselineOptions {
  libDir: string;
  bootstrap: string;
  runs: number;
  /** Called after each run with its wall time and parsed row count. */
  onRun?: (run: { index: number; ms: number; rows: number }) => void;
}

export interface ConsumerGroupsBaselineResult {
  samplesMs: number[];
  medianMs: number;
  minMs: number;
  /** Group-partition rows parsed from the last run. */
  rows: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function runConsumerGroupsBaseline(opts: ConsumerGroupsBaselineOptions): Promise<ConsumerGroupsBaselineResult> {
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error(`runs must be a positive integer, got ${opts.runs}`);
  const samplesMs: number[] = [];
  let rows = 0;
  for (let index = 0; index < opts.runs; index++) {
    const result = await runConsumerGroupsCommand(opts.libDir, opts.bootstrap, ['--describe', '--all-groups']);
    if (result.code !== 0) {
      const output = `${result.stdout}\n${result.stderr}`.trimEnd().split('\n').slice(-30).join('\n');
      throw new Error(`kafka-consumer-groups --describe --all-groups exited with ${result.code} on run ${index + 1}; last output:\n${output}`);
    }
    rows = parseDescribeOutput(result.stdout).length;
    samplesMs.push(result.ms);
    opts.onRun?.({ index, ms: result.ms, rows });
  }
  return { samplesMs, medianMs: median(samplesMs), minMs: Math.min(...samplesMs), rows };
}
