import type { TestProjectInlineConfiguration } from 'vitest/config';

/** The console's component tests (jsdom, no broker): in `npm test` and in `npm run test:quick`. */
export const consoleProject: TestProjectInlineConfiguration = {
  test: {
    name: 'console',
    include: ['packages/console/test/**/*.test.{ts,tsx}'],
    environment: 'jsdom',
    setupFiles: ['packages/console/test/setup.ts'],
    testTimeout: 15_000,
  },
};
