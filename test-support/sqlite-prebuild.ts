import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = fileURLToPath(new URL('../node_modules/better-sqlite3/', import.meta.url));

/**
 * The environment for an `npm ci` or `npm install` that should take better-sqlite3's native module
 * as a prebuilt binary, as a user's install downloads it, instead of compiling SQLite (about a
 * minute of both cores): a tarball of this checkout's build, named as its install script looks
 * for it in a local prebuilds folder (`npm_config_better_sqlite3_local_prebuilds`). The version
 * and Node ABI are this checkout's: another version is not found there and compiles as before.
 */
export function sqlitePrebuildEnv(dir: string): Record<string, string> {
  const version = (JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string }).version;
  const folder = join(dir, 'prebuilds');
  mkdirSync(folder, { recursive: true });
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  execFileSync('tar', ['-czf', join(folder, name), '-C', PACKAGE, 'build/Release/better_sqlite3.node']);
  return { npm_config_better_sqlite3_local_prebuilds: folder };
}
