import { defineConfig } from 'vitest/config';
import { consoleProject } from './test-support/vitest-projects.js';

// npm run test:quick: the tests that need no broker, no OpenSearch or Elasticsearch node, no
// control plane and no other program (pure logic, parsers, policies, fuzzing, SQLite, the console
// components), for the edit-test loop. npm test runs these too, with everything else.
export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'quick',
          // These start the API or a worker on the broker, or an Elasticsearch node: not quick.
          exclude: [
            'packages/validator/test/fuzz/api-bodies.fuzz.test.ts',
            'packages/validator/test/fuzz/worker-records.fuzz.test.ts',
            'packages/cli/test/elasticsearch-command.test.ts',
          ],
          include: [
            'packages/core/test/**/*.test.ts',
            'packages/validator/test/rules/**/*.test.ts',
            'packages/validator/test/jobs/**/*.test.ts',
            'packages/validator/test/fuzz/**/*.test.ts',
            'packages/autoscaler/test/autoscaler-share-group.test.ts',
            'packages/kafka/test/ordered-commits.test.ts',
            'packages/exporter/test/prometheus-text.test.ts',
            'packages/autoscaler/test/local-pool-ready.test.ts',
            'packages/autoscaler/test/policies.test.ts',
            'packages/cli/test/autoscaler-share-group-config.test.ts',
            'packages/cli/test/browser-headers.test.ts',
            'packages/cli/test/elasticsearch-command.test.ts',
            'packages/cli/test/error-shape.test.ts',
            'packages/cli/test/live-feed.test.ts',
            'packages/cli/test/store-config.test.ts',
            'packages/kubernetes/test/keda-scaler-refusal-log.test.ts',
            'packages/kubernetes/test/share-group.test.ts',
            'packages/kubernetes/test/shard-plan.test.ts',
            'packages/validator/test/store/sqlite-store.test.ts',
            'packages/validator/test/worker/batch-validation.test.ts',
            'packages/validator/test/worker/exact-numbers-batch.test.ts',
            'packages/validator/test/worker/pipeline-rule-sets.test.ts',
            'packages/validator/test/worker/validation-budgets.test.ts',
          ],
          testTimeout: 60_000,
        },
      },
      consoleProject,
    ],
  },
});
