import { defineConfig } from 'vitest/config';
import { consoleProject } from './test-support/vitest-projects.js';

// Three projects, in two lanes that `npm test` runs side by side (test-support/run-lanes.mjs),
// each lane a vitest process with its own broker and OpenSearch node (global setup), so the lanes
// never share a broker. Inside a lane files run one at a time: integration tests measure time lag
// and rates, and two cores are not enough for more brokers side by side.
// - `packages`: the lag engine, the workers and stores, the CLI.
// - `heavy`: tests that run other programs for long (the Kubernetes control plane, Chromium, helm,
//   npm, Prometheus, Elasticsearch, 3-broker clusters) and the autoscaler's end-to-end loops.
// - `console`: component tests in jsdom; no broker (a project's global setup only runs when one
//   of its files is selected, so `vitest run packages/console` starts no Kafka). In the second lane.
// Tests that need 3 nodes, TLS/SASL, another Kafka version or a node they may stop start their own.
// The lanes are balanced by their measured time: the worker's broker failover (3 brokers of its
// own, ~2 minutes) runs in the first lane since the KEDA conformance and shard tests joined the second.
const HEAVY = [
  'packages/kubernetes/test/**/*.test.ts',
  'packages/console/e2e/**/*.test.ts',
  'packages/autoscaler/test/**/*.test.ts',
  'packages/elasticsearch/test/**/*.test.ts',
  'deploy/test/**/*.test.ts',
  'packages/cli/test/npm-start.test.ts',
  'packages/cli/test/packed-install.test.ts',
  'packages/cli/test/stack-broker-restart.test.ts',
  'packages/validator/test/store/elasticsearch-store.test.ts',
  'packages/kafka/test/group-failover.test.ts',
];
// expect.poll waits 30 s by default, not vitest's 1 s: with the two lanes on two cores a browser
// page or a group can take seconds to show what it will show (one CI run failed on a 1 s poll).
const SERVICES = {
  fileParallelism: false,
  globalSetup: ['test-support/global-services.ts'],
  testTimeout: 60_000,
  hookTimeout: 180_000,
  expect: { poll: { timeout: 30_000 } },
};

export default defineConfig({
  test: {
    fileParallelism: false,
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'packages',
          include: ['packages/*/test/**/*.test.ts', 'test-support/**/*.test.ts'],
          exclude: ['**/node_modules/**', 'packages/console/test/**', ...HEAVY],
          ...SERVICES,
        },
      },
      {
        test: {
          name: 'heavy',
          // Console browser tests (e2e/) run here: they need the stack, hence Kafka.
          include: HEAVY,
          exclude: ['**/node_modules/**'],
          ...SERVICES,
        },
      },
      consoleProject,
    ],
  },
});
