import { readFileSync } from 'node:fs';

const CLOCK_TICKS = 100;

/** utime + stime of a process (all its threads) in seconds: fields 14 and 15 of /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
