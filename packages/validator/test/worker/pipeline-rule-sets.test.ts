/**
 * The validation pipeline's main-thread part on a batch naming several rule sets, some of them
 * unknown, in runs and alternating: each record is validated against its own rule set or
 * dead-lettered with the one it named. No broker: the batch is handed to the pipeline as a
 * consumer would, with a SQLite store and validation on the calling thread.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRequest, type RuleSetDocument, SqliteResultStore, WorkerMetrics } from '@lagscale/validator';
import { afterEach, describe, expect, it } from 'vitest';
import { createValidationPipeline } from '../../src/worker/pipeline.js';
import { InlineValidator } from '../../src/worker/validation-threads.js';

const ruleSet = JSON.parse(readFileSync(new URL('../../examples/orders.ruleset.json', import.meta.url), 'utf8')) as RuleSetDocument & {
  name: string;
  version: number;
};
const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('validation pipeline', () => {
  it('looks up each record’s rule set, whichever the records before it named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-pipeline-'));
    dirs.push(dir);
    const store = SqliteResultStore.open(join(dir, 'results.db'));
    await store.saveRuleSet(ruleSet.name, ruleSet.version, ruleSet, Date.now());
    await store.createJob({ id: 'job-1', ruleSet: ruleSet.name, ruleSetVersion: ruleSet.version, total: 8, createdAt: Date.now(), source: 'test' });
    const named: [string, number | undefined][] = [
      [ruleSet.name, undefined],
      ['ghost', undefined],
      ['ghost', undefined],
      [ruleSet.name, ruleSet.version],
      [ruleSet.name, 99],
      [ruleSet.name, undefined],
      ['ghost', 2],
      [ruleSet.name, ruleSet.version],
    ];
    const batch = named.map(([name, version], i) => {
      const message = encodeRequest({
        jobId: 'job-1',
        recordNumber: i + 1,
        ruleSet: name,
        ...(version === undefined ? {} : { ruleSetVersion: version }),
        value: '{"order_id": "x"}',
      });
      return {
        topic: 'validation.requests',
        partition: 0,
        offset: BigInt(i),
        timestamp: 0n,
        key: message.key,
        value: message.value,
        headers: new Map(Object.entries(message.headers).map(([k, v]) => [Buffer.from(k), v])),
      };
    });
    const handle = createValidationPipeline({
      store,
      logger: quiet as never,
      metrics: new WorkerMetrics(),
      validator: new InlineValidator(),
      producer: null,
      resultsTopic: null,
      deadLetterTopic: null,
      maxRecordBytes: 1024 * 1024,
      maxDepth: 64,
      keepRecordBytes: 0,
      recordCostMs: 0,
    });
    const { settled } = await handle(batch);
    const verdicts = await settled;
    expect([...(verdicts as { rejected: ReadonlySet<unknown> }).rejected].map((m) => batch.indexOf(m as (typeof batch)[number]) + 1)).toEqual([2, 3, 5, 7]);
    // The DLQ lists the newest first.
    const dlq = (await store.listDlq({ jobId: 'job-1', limit: 100 })).items.map((entry) => [entry.recordNumber, entry.code, entry.reason]).reverse();
    expect(dlq).toEqual([
      [2, 'unknown_rule_set', 'rule set "ghost" does not exist; create it, then replay this record'],
      [3, 'unknown_rule_set', 'rule set "ghost" does not exist; create it, then replay this record'],
      [5, 'unknown_rule_set', `rule set "${ruleSet.name}" version 99 does not exist; create it, then replay this record`],
      [7, 'unknown_rule_set', 'rule set "ghost" version 2 does not exist; create it, then replay this record'],
    ]);
    for (const recordNumber of [1, 4, 6, 8]) expect(await store.getResult('job-1', recordNumber)).toMatchObject({ recordNumber, valid: false });
    expect((await store.getJob('job-1'))?.results).toBe(4);
    await store.close();
  });
});
