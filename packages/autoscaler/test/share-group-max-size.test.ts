import { OffsetCollector } from '@lagscale/kafka';
import { describe, expect, inject, it } from 'vitest';

const brokers = inject('kafkaBrokers');

describe("a share group's maximum size from the brokers", () => {
  it('reads group.share.max.size with one DescribeConfigs (Kafka 4 default 200), and fails, saying so, when no broker can be reached (callers fall back to 200)', async () => {
    const collector = new OffsetCollector({ connection: { brokers } });
    try {
      const before = collector.requestCount;
      expect(await collector.shareGroupMaxSize()).toBe(200);
      // Metadata (to know a broker id) and the DescribeConfigs.
      expect(collector.requestCount - before).toBeLessThanOrEqual(2);
    } finally {
      await collector.close();
    }
    const unreachable = new OffsetCollector({ connection: { brokers: ['127.0.0.1:1'], connectTimeoutMs: 200 } });
    try {
      await expect(unreachable.shareGroupMaxSize()).rejects.toThrow(/cannot read cluster metadata/);
    } finally {
      await unreachable.close();
    }
  });
});
