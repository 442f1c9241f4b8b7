#!/usr/bin/env -S node --heap-growing-percent=50 --max-semi-space-size=8
// The `lagscale` command: the built CLI (packages/cli/dist), or a hint when it was not built yet.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('lagscale: the CLI is not built yet; run `npm run build` in the repository first\n');
  process.exit(2);
}
await import(main.href);
