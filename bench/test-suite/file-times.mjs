#!/usr/bin/env node
// Per-file times of an `npm test` run, from its output: which lane ran each file and how long it
// took, its CPU seconds when the run printed them (`[cpu] <file> <s>`, test-support/file-cpu.ts:
// the file's process and the children it started), and each lane's total. Compares two runs when
// given two logs (before, after).
//   node bench/test-suite/file-times.mjs before.log [after.log] > times.json
import { readFileSync } from 'node:fs';

function parse(path) {
  const files = {};
  const lanes = {};
  const cpu = {};
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's colour codes are what it removes
    const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
    const file = /^\[(\d)\]\s+[✓×]\s+\S+\s+(\S+\.test\.tsx?) \((\d+) tests?(?:[^)]*)\)\s+(\d+)ms$/.exec(line);
    if (file) files[file[2]] = { lane: Number(file[1]), tests: Number(file[3]), seconds: Number(file[4]) / 1000 };
    const used = /^\[\d\] \[cpu\] (\S+) ([\d.]+)$/.exec(line);
    if (used) cpu[used[1]] = Number(used[2]);
    const lane = /^\[(\d)\] (.+): (passed|FAILED[^;]*) in (\d+) s/.exec(line);
    if (lane) lanes[lane[1]] = { projects: lane[2], result: lane[3], seconds: Number(lane[4]) };
    const all = /^all lanes: (\d+) s/.exec(line);
    if (all) lanes.all = { seconds: Number(all[1]) };
  }
  for (const [name, seconds] of Object.entries(cpu)) if (files[name]) files[name].cpuSeconds = seconds;
  return { files, lanes };
}

const [beforePath, afterPath] = process.argv.slice(2);
if (beforePath === undefined) {
  process.stderr.write('usage: file-times.mjs before.log [after.log]\n');
  process.exit(2);
}
const before = parse(beforePath);
if (afterPath === undefined) {
  process.stdout.write(`${JSON.stringify(before, null, 2)}\n`);
} else {
  const after = parse(afterPath);
  const names = [...new Set([...Object.keys(before.files), ...Object.keys(after.files)])];
  const rows = names
    .map((name) => ({ file: name, before: before.files[name] ?? null, after: after.files[name] ?? null }))
    .sort((a, b) => (b.before?.seconds ?? 0) - (a.before?.seconds ?? 0));
  process.stdout.write(`${JSON.stringify({ lanes: { before: before.lanes, after: after.lanes }, files: rows }, null, 2)}\n`);
}
