#!/usr/bin/env node
/**
 * Packs the `lagscale` command into one npm tarball that installs anywhere npm does:
 *   npm run build && node scripts/pack.mjs [out-dir]      → out-dir/lagscale-<version>.tgz
 *   npm install -g ./out-dir/lagscale-<version>.tgz       → `lagscale --version`
 *
 * The workspace packages (@lagscale/cli and the ones it imports) are not published, so the
 * tarball bundles them (`bundleDependencies`) with their built dist/, the files they read at run
 * time (the validator's example rule set, the built console, the World Cup trace), and lists
 * their third-party dependencies as its own, which npm installs as usual.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const out = resolve(process.argv[2] ?? join(ROOT, 'dist-pack'));
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const root = readJson(join(ROOT, 'package.json'));

/** Workspace package name → its folder. */
const workspaces = new Map();
for (const folder of root.workspaces) {
  const manifest = readJson(join(ROOT, folder, 'package.json'));
  workspaces.set(manifest.name, { folder, manifest });
}

// The CLI and every workspace package it reaches through dependencies.
const bundled = [];
const visit = (name) => {
  if (bundled.includes(name)) return;
  const found = workspaces.get(name);
  if (found === undefined) throw new Error(`${name} is not a workspace package`);
  bundled.push(name);
  for (const dependency of Object.keys(found.manifest.dependencies ?? {})) if (workspaces.has(dependency)) visit(dependency);
};
visit('@lagscale/cli');

const dependencies = {};
for (const name of bundled) {
  for (const [dependency, range] of Object.entries(workspaces.get(name).manifest.dependencies ?? {})) {
    if (workspaces.has(dependency)) continue;
    if (dependencies[dependency] !== undefined && dependencies[dependency] !== range) {
      throw new Error(`${dependency} is asked for as ${dependencies[dependency]} and as ${range}: make the workspace packages agree`);
    }
    dependencies[dependency] = range;
  }
}

const cli = workspaces.get('@lagscale/cli');
const stage = mkdtempSync(join(tmpdir(), 'lagscale-pack-'));
try {
  const copy = (from, to) => {
    const source = join(ROOT, from);
    if (!existsSync(source)) throw new Error(`${from} is missing: run \`npm run build\` first`);
    cpSync(source, join(stage, to), { recursive: true, filter: (path) => !path.endsWith('.tsbuildinfo') });
  };
  for (const name of bundled) {
    const { folder, manifest } = workspaces.get(name);
    const into = join('node_modules', name);
    mkdirSync(join(stage, into), { recursive: true });
    // No dependencies of their own: npm counts a bundled package's dependencies as bundled too and
    // would not fetch them. The tarball's own dependencies (below) provide them, one level up.
    const { devDependencies: _dev, scripts: _scripts, dependencies: _deps, ...published } = manifest;
    writeFileSync(join(stage, into, 'package.json'), `${JSON.stringify(published, null, 2)}\n`);
    copy(join(folder, 'dist'), join(into, 'dist'));
  }
  // What the CLI reads beside its code (paths relative to the packages, as in the repository).
  copy('packages/cli/bin', 'node_modules/@lagscale/cli/bin');
  copy('packages/validator/examples', 'node_modules/@lagscale/validator/examples');
  copy('packages/kubernetes/proto', 'node_modules/@lagscale/kubernetes/proto');
  copy('packages/console/dist', 'node_modules/@lagscale/console/dist');
  writeFileSync(
    join(stage, 'node_modules/@lagscale/console/package.json'),
    `${JSON.stringify({ name: '@lagscale/console', version: cli.manifest.version, private: true }, null, 2)}\n`,
  );
  bundled.push('@lagscale/console');
  copy('data/traces', 'node_modules/@lagscale/cli/data/traces');

  mkdirSync(join(stage, 'bin'));
  writeFileSync(
    join(stage, 'bin', 'lagscale.js'),
    "#!/usr/bin/env -S node --heap-growing-percent=50 --max-semi-space-size=8\n// The `lagscale` command of the packed install: the bundled CLI.\nawait import('@lagscale/cli/bin/lagscale.js');\n",
    { mode: 0o755 },
  );
  const manifest = {
    name: 'lagscale',
    version: cli.manifest.version,
    description: root.description,
    type: 'module',
    engines: root.engines,
    bin: { lagscale: 'bin/lagscale.js' },
    files: ['bin'],
    // npm packs a bundled package only when it is a dependency too.
    dependencies: Object.fromEntries(
      [...Object.entries(dependencies), ...bundled.map((name) => [name, cli.manifest.version])].sort(([a], [b]) => a.localeCompare(b)),
    ),
    bundleDependencies: bundled,
    allowScripts: root.allowScripts,
  };
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  mkdirSync(out, { recursive: true });
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: stage, encoding: 'utf8' }).trim().split('\n').at(-1);
  process.stdout.write(`${join(out, packed)}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
