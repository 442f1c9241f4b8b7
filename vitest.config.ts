import { defineConfig } from 'vitest/config';
import { consoleProject } from './test-support/vitest-projects.js';

// Four projects, in three lanes that `npm test` runs side by side (test-support/run-lanes.mjs),
// each lane a vitest process with its own broker (global setup), so the lanes never share a broker;
// they share the OpenSearch node run-lanes.mjs starts (a lane run alone starts its own). Inside a
// lane files run one at a time: integration tests measure time lag and rates, and two cores are
// not enough for more brokers side by side.
// - `packages`: the lag engine, the workers and stores, the CLI (with `npm start` from a clone,
//   the packed install and the stack's broker restart).
// - `heavy`: tests that run other programs for long (the Kubernetes control plane, KEDA,
//   Chromium, helm, Prometheus, Elasticsearch) and the autoscaler's end-to-end loops.
// - `console`: component tests in jsdom; no broker (a project's global setup only runs when one
//   of its files is selected, so `vitest run packages/console` starts no Kafka). In the second lane.
// - `integrity`: the worker's counting tests and the lag engine's accuracy tests. The third lane.
// Tests that need 3 nodes, TLS/SASL, another Kafka version or a node they may stop start their own.
// The lanes are balanced by their measured time (bench/test-suite/file-times.mjs reads a run's log).
const HEAVY = [
  'packages/kubernetes/test/**/*.test.ts',
  'packages/console/e2e/**/*.test.ts',
  'packages/autoscaler/test/**/*.test.ts',
  'packages/elasticsearch/test/**/*.test.ts',
  'deploy/test/**/*.test.ts',
  'packages/validator/test/store/elasticsearch-store.test.ts',
];
// The worker's counting tests (records through scale-out, scale-in, kills, broker and store
// outages, each counted against the broker; minutes each, mostly waiting on processes) and the lag
// engine's accuracy tests: the third lane.
const INTEGRITY = [
  'packages/kafka/test/time-lag-accuracy.test.ts',
  'packages/kafka/test/kip848-consumer.test.ts',
  'packages/kafka/test/share-lag-accuracy.test.ts',
  'packages/validator/test/worker/autoscaled-integrity.test.ts',
  'packages/validator/test/worker/store-outage.test.ts',
  'packages/validator/test/worker/scale-integrity.test.ts',
  'packages/validator/test/worker/broker-failover.test.ts',
  'packages/validator/test/worker/share-store-outage.test.ts',
  'packages/validator/test/worker/consumer-rejoin.test.ts',
];
// expect.poll waits 30 s by default, not vitest's 1 s: with the two lanes on two cores a browser
// page or a group can take seconds to show what it will show (one CI run failed on a 1 s poll).
// The packages' builds (packages/*/dist) are loaded by Node, not transformed by vitest for every
// file: a lane spent 107 s of its 1,330 in collecting files, about a third less so.
const SERVICES = {
  fileParallelism: false,
  server: { deps: { external: [/\/packages\/[^/]+\/dist\//] } },
  globalSetup: ['test-support/global-services.ts'],
  // Each file's CPU, its children's included, after it (`[cpu] <file> <seconds>`).
  setupFiles: ['test-support/file-cpu.ts'],
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
          exclude: ['**/node_modules/**', 'packages/console/test/**', ...HEAVY, ...INTEGRITY],
          ...SERVICES,
        },
      },
      { test: { name: 'integrity', include: INTEGRITY, ...SERVICES } },
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
