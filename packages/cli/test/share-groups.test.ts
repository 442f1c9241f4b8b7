import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { LagSnapshot } from '@lagscale/core';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createTopic, produce } from '../../../test-support/kafka.js';
import { consumeShared, describeShareGroupOffsets, type SharePartitionRow, setGroupConfig } from '../../../test-support/share-groups-command.js';
import { get } from '../../exporter/test/http-client.js';
import { listening, main, spawnCli } from './cli-process.js';

/**
 * Share groups (the test broker, Kafka 4.4.0) through the command line: `lagscale lag` lists them beside consumer
 * groups with the numbers `kafka-share-groups --describe --offsets` prints, and `lagscale
 * exporter` exports them as lagscale_sharegroup_* series.
 */
const runId = `clishare${Date.now().toString(36)}`;
const TOPIC = `${runId}-orders`;
const GROUP = `${runId}-readers`;
// One partition: the console consumer then initialises every share-partition it reads (others would stay without state).
const PARTITIONS = 1;
const PER_PARTITION = 1_000;
const READ = 25;
const run = promisify(execFile);

describe('share groups in lagscale lag and lagscale exporter', () => {
  const cluster = { brokers: inject('kafkaBrokers'), libDir: inject('kafkaLibDir') };
  const bootstrap = cluster.brokers[0] as string;
  let truth: SharePartitionRow[];
  let lagSum: number;

  beforeAll(async () => {
    await createTopic(cluster.brokers, TOPIC, PARTITIONS);
    await produce(cluster.brokers, { topic: TOPIC, perPartition: Object.fromEntries(Array.from({ length: PARTITIONS }, (_, p) => [p, PER_PARTITION])) });
    await setGroupConfig(cluster.libDir, bootstrap, GROUP, 'share.auto.offset.reset=earliest');
    expect(await consumeShared(cluster.libDir, bootstrap, { topic: TOPIC, group: GROUP, maxMessages: READ })).toHaveLength(READ);
    truth = (await describeShareGroupOffsets(cluster.libDir, bootstrap, GROUP)).sort((a, b) => a.partition - b.partition);
    // The console consumer accepts every record its polls delivered, printed or not: some hundreds.
    lagSum = truth.reduce((sum, row) => sum + (row.lag ?? 0), 0);
    expect(lagSum).toBeGreaterThan(0);
    expect(lagSum).toBeLessThanOrEqual(PARTITIONS * PER_PARTITION - READ);
  }, 240_000);

  it('lagscale lag --all-groups shows the share group with the tool’s start offsets and lag', async () => {
    const { stdout } = await run(process.execPath, [main, 'lag', '--all-groups', '-b', bootstrap, '--json'], { env: { ...process.env, KAFKA_BROKERS: '' } });
    const snapshot = JSON.parse(stdout) as LagSnapshot;
    const share = snapshot.shareGroups?.find((g) => g.group === GROUP);
    expect(share?.partitions.map((p) => [p.topic, p.partition, p.startOffset, p.lag, p.lagMode])).toEqual(
      truth.map((row) => [row.topic, row.partition, row.startOffset, row.lag, 'exact']),
    );
    // One-shot runs read the record at each start offset: the oldest record waiting, dated exactly.
    expect(share?.partitions.every((p) => p.lag === 0 || (p.timeLagMode === 'exact' && (p.timeLagSeconds ?? -1) >= 0))).toBe(true);
    const text = (await run(process.execPath, [main, 'lag', '-g', GROUP, '-b', bootstrap], { env: { ...process.env, KAFKA_BROKERS: '' } })).stdout;
    expect(text).toContain(`Share group '${GROUP}' (Empty, 0 members): lag ${lagSum}`);
    for (const row of truth)
      expect(text).toMatch(new RegExp(`^${GROUP}\\s+${TOPIC}\\s+${row.partition}\\s+${row.startOffset}\\s+${PER_PARTITION}\\s+${row.lag}\\s`, 'm'));
  });

  it('lagscale exporter exports lagscale_sharegroup_lag and its sum', async () => {
    const exporter = spawnCli(['exporter', '-b', bootstrap, '--port', '0', '--interval', '1s']);
    try {
      const port = await listening(exporter, 'the exporter');
      let metrics = '';
      for (let i = 0; i < 50 && !metrics.includes(`lagscale_sharegroup_lag{sharegroup="${GROUP}"`); i++) {
        metrics = (await get(port, '/metrics')).body;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      for (const row of truth) {
        expect(metrics).toContain(`lagscale_sharegroup_lag{sharegroup="${GROUP}",topic="${TOPIC}",partition="${row.partition}"} ${row.lag}`);
        expect(metrics).toContain(`lagscale_sharegroup_start_offset{sharegroup="${GROUP}",topic="${TOPIC}",partition="${row.partition}"} ${row.startOffset}`);
      }
      expect(metrics).toContain(`lagscale_sharegroup_lag_sum{sharegroup="${GROUP}",topic="${TOPIC}"} ${lagSum}`);
      expect(metrics).toContain(`lagscale_sharegroup_members{sharegroup="${GROUP}"} 0`);
      expect(metrics).toContain(`lagscale_sharegroup_lag_exact{sharegroup="${GROUP}"} 1`);
      // A queue is not a consumer group: none of kafka_exporter's series name it.
      expect(metrics).not.toContain(`consumergroup="${GROUP}"`);
      const listed = JSON.parse((await get(port, '/api/v1/groups')).body) as { groups: { group: string }[]; shareGroups: { group: string; lag: number }[] };
      expect(listed.groups.map((g) => g.group)).not.toContain(GROUP);
      expect(listed.shareGroups).toContainEqual(expect.objectContaining({ group: GROUP, lag: lagSum, partitionCount: PARTITIONS }));
      const detail = JSON.parse((await get(port, `/api/v1/sharegroups/${GROUP}`)).body) as { group: { partitions: unknown[] } };
      expect(detail.group.partitions).toHaveLength(PARTITIONS);
      expect((await get(port, '/api/v1/sharegroups/nope')).status).toBe(404);
    } finally {
      exporter.kill('SIGTERM');
    }
  });
});
