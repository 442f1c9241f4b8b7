import { LagEvaluator } from '@lagscale/core';
import { OffsetCollector } from '@lagscale/kafka';
import { describe, expect, inject, it } from 'vitest';
import { commitOffsets, createTopic, producer } from '../../../test-support/kafka.js';

const brokers = inject('kafkaBrokers');

/**
 * Produce at a known steady rate, stop the consumer, and compare the estimated time lag (from
 * the log-end history alone) with the true age of the oldest unconsumed record (its timestamp,
 * read from the log by exact mode at the same instant).
 */
describe('time-lag estimate accuracy', () => {
  it('stays within 10% of the true age of the oldest unconsumed record after warm-up', async () => {
    const topic = `timelag-${Date.now().toString(36)}`;
    await createTopic(brokers, topic, 2);
    const client = producer(brokers);
    const ratePerSecond = 200;
    const tickMs = 100;
    let produced = 0;
    let producing = true;
    const production = (async () => {
      const start = Date.now();
      for (let tick = 0; producing; tick++) {
        const due = start + tick * tickMs;
        await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
        const perTick = (ratePerSecond * tickMs) / 1000 / 2;
        for (const partition of [0, 1]) {
          await client.send({
            messages: Array.from({ length: perTick }, (_, i) => ({ topic, partition, key: `k${i}`, value: 'x', timestamp: BigInt(Date.now()) })),
          });
          produced += perTick;
        }
      }
    })();

    const group = 'timelag-consumer';
    const estimate = new OffsetCollector({ connection: { brokers }, groups: [group] });
    const truth = new OffsetCollector({ connection: { brokers }, groups: [group], exactTimeLag: true });
    const evaluator = new LagEvaluator();
    const truthEvaluator = new LagEvaluator();
    const errors: { cycle: number; estimate: number; truth: number; relative: number }[] = [];
    try {
      // Cycle 0 starts with production; the consumer "stops" after 2 s at whatever it had read.
      for (let cycle = 0; cycle < 16; cycle++) {
        if (cycle === 2) {
          const obs = await truth.collect();
          const ends = new Map(obs.topics.flatMap((t) => t.partitions.map((p) => [p.partition, p.logEndOffset ?? 0])));
          await commitOffsets(brokers, group, topic, { 0: ends.get(0) ?? 0, 1: ends.get(1) ?? 0 });
        }
        const est = evaluator.evaluate(await estimate.collect()).groups[0];
        const exact = truthEvaluator.evaluate(await truth.collect()).groups[0];
        if (cycle >= 6 && est?.timeLagSeconds != null && exact?.timeLagSeconds != null) {
          errors.push({
            cycle,
            estimate: est.timeLagSeconds,
            truth: exact.timeLagSeconds,
            relative: Math.abs(est.timeLagSeconds - exact.timeLagSeconds) / exact.timeLagSeconds,
          });
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      producing = false;
      await production;
      await client.close();
      await estimate.close();
      await truth.close();
    }
    const worst = Math.max(...errors.map((e) => e.relative));
    const mean = errors.reduce((s, e) => s + e.relative, 0) / errors.length;
    console.log(
      `time-lag estimate vs truth over ${errors.length} cycles (${produced} records at ${ratePerSecond}/s): mean error ${(mean * 100).toFixed(2)}%, worst ${(worst * 100).toFixed(2)}%`,
    );
    for (const e of errors) console.log(`  cycle ${e.cycle}: estimate ${e.estimate.toFixed(2)} s, truth ${e.truth.toFixed(2)} s`);
    expect(errors.length).toBeGreaterThanOrEqual(8);
    expect(worst).toBeLessThan(0.1);
  }, 90_000);
});
