import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

// The CPU a test file costs, printed after it as `[cpu] <file> <seconds>`: the test process's own
// CPU and that of the child processes it started and saw exit (brokers, nodes, lagscale commands:
// Linux adds a waited-for child's CPU to its parent's). The lane's shared broker and OpenSearch
// node are not in it. bench/test-suite/file-times.mjs reads these lines; on a machine whose cores
// are all busy, CPU is what a file costs the others.
const STAT = '/proc/self/stat';
// /proc reports in USER_HZ, 100 on Linux.
const TICKS_PER_SECOND = 100;

function cpuSeconds(): number {
  const stat = readFileSync(STAT, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) / TICKS_PER_SECOND;
}

if (existsSync(STAT)) {
  let started = 0;
  beforeAll(() => {
    started = cpuSeconds();
  });
  afterAll((suite) => {
    const file = 'filepath' in suite && typeof suite.filepath === 'string' ? relative(process.cwd(), suite.filepath) : suite.name;
    process.stderr.write(`[cpu] ${file} ${(cpuSeconds() - started).toFixed(1)}\n`);
  });
}
