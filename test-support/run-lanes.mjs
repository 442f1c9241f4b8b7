#!/usr/bin/env node
// npm test: the whole suite in three lanes side by side, each a vitest process with its own broker
// and OpenSearch node (see vitest.config.ts): lane 1 the `packages` project, lane 2 `heavy` and
// `console`, lane 3 `integrity`. Each line of output carries its lane's tag; the exit code is
// non-zero when any lane failed. Arguments are passed to every lane (e.g. `-- --bail 1`).
// The lanes share one OpenSearch node, started here (each test file uses indices of its own prefix;
// tests that stop or block a node start their own): a node's start and idle cost CPU the lanes
// need. Each lane keeps its own broker. LAGSCALE_TEST_OPENSEARCH_URL, when set, is used instead.
//   LAGSCALE_TEST_LANES=1 runs the lanes one after the other instead (a busy or small machine).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { startOpenSearchNode } from '@lagscale/opensearch';

const LANES = [
  { tag: '[1]', projects: ['packages'] },
  { tag: '[2]', projects: ['heavy', 'console'] },
  { tag: '[3]', projects: ['integrity'] },
];
const extra = process.argv.slice(2);
const vitest = new URL('../node_modules/vitest/vitest.mjs', import.meta.url).pathname;

function runLane(lane) {
  const started = performance.now();
  const args = [vitest, 'run', ...lane.projects.flatMap((p) => ['--project', p]), ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: process.env.FORCE_COLOR ?? '0' } });
  const tail = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      process.stdout.write(`${lane.tag} ${line}\n`);
      tail.push(line);
      if (tail.length > 12) tail.shift();
    });
  }
  return new Promise((resolve) => {
    child.once('close', (code, signal) => resolve({ lane, code: code ?? (signal ? 128 : 1), seconds: (performance.now() - started) / 1000, tail }));
  });
}

const started = performance.now();
let openSearch;
if (!process.env.LAGSCALE_TEST_OPENSEARCH_URL) {
  // Three lanes write to it at once (the worker tests' results among them): twice a lane node's heap.
  openSearch = await startOpenSearchNode({ heapMb: 1024, onProgress: (line) => process.stdout.write(`[opensearch] ${line}\n`) });
  process.stdout.write(`[opensearch] the lanes' node ${openSearch.url} ready in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  process.env.LAGSCALE_TEST_OPENSEARCH_URL = openSearch.url;
}
const results = [];
if (process.env.LAGSCALE_TEST_LANES === '1') {
  for (const lane of LANES) results.push(await runLane(lane));
} else {
  results.push(...(await Promise.all(LANES.map(runLane))));
}
await openSearch?.stop();
process.stdout.write('\n');
for (const { lane, code, seconds, tail } of results) {
  const summary = tail.filter((l) => /Test Files|Tests {2}/.test(l)).map((l) => l.trim());
  process.stdout.write(
    `${lane.tag} ${lane.projects.join(' + ')}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${seconds.toFixed(0)} s; ${summary.join('; ')}\n`,
  );
}
process.stdout.write(`all lanes: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
process.exitCode = results.some((r) => r.code !== 0) ? 1 : 0;
