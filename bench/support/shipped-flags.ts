import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The `lagscale` bin, as a user runs it. */
export const LAGSCALE_BIN = fileURLToPath(new URL('../../packages/cli/bin/lagscale.js', import.meta.url));

/** The Node flags the `lagscale` bin's shebang sets: what a user's commands run with. */
export function shippedFlags(): string {
  const first = readFileSync(LAGSCALE_BIN, 'utf8').split('\n')[0] ?? '';
  return first.replace(/^#!\/usr\/bin\/env -S node\s*/, '').trim();
}
