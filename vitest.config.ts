import { defineConfig } from 'vitest/config';

// Two projects. `packages`: one broker and one OpenSearch node for the whole run (started in
// global setup); tests that need 3 nodes, TLS/SASL, another Kafka version or a node they may stop
// start their own. Files run one at a time:
// integration tests measure time lag and rates, and two cores are not enough to run brokers side
// by side reliably. `console`: component tests in jsdom; they need no broker, and a project's
// global setup only runs when one of its files is selected, so `vitest run packages/console`
// starts no Kafka.
export default defineConfig({
  test: {
    fileParallelism: false,
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'packages',
          // Console browser tests (e2e/) run here: they need the stack, hence Kafka.
          include: ['packages/*/test/**/*.test.ts', 'packages/console/e2e/**/*.test.ts', 'test-support/**/*.test.ts', 'deploy/test/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'packages/console/test/**'],
          fileParallelism: false,
          globalSetup: ['test-support/global-services.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'console',
          include: ['packages/console/test/**/*.test.{ts,tsx}'],
          environment: 'jsdom',
          setupFiles: ['packages/console/test/setup.ts'],
          testTimeout: 15_000,
        },
      },
    ],
  },
});
