import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The URL of a worker-thread module that sits next to the module at `from` (its
 * `import.meta.url`) once built. Run from sources (tsx, tests), `from` is a .ts file under src/
 * and the thread runs the built copy under dist/, since a thread cannot load TypeScript.
 */
export function threadModule(from: string, file: string, what: string): URL {
  const here = new URL(`./${file}`, from);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL(`./${file}`, from.replace('/src/', '/dist/'));
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error(`${what} module not found at ${fileURLToPath(here)}: build the project (npm run build)`);
}
