import { defineConfig } from 'vitest/config';

// One broker for the whole run (started in global setup); tests that need 3 nodes, TLS/SASL or
// another Kafka version start their own. Files run one at a time: integration tests measure
// time lag and rates, and two cores are not enough to run brokers side by side reliably.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test-support/**/*.test.ts'],
    globalSetup: ['test-support/global-kafka.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
