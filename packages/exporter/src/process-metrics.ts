import { getHeapSpaceStatistics } from 'node:v8';
import type { PrometheusText } from './prometheus.js';

const startTimeSeconds = Math.round((Date.now() - performance.now()) / 10) / 100;

/**
 * The process's own resources under the names Prometheus client libraries use
 * (`process_resident_memory_bytes`, `process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`,
 * ...), so the usual dashboards and a soak test can follow a lagscale process's memory and CPU.
 * The heap by V8 space (`nodejs_heap_space_size_total_bytes{space}`: new, old, code, large
 * objects, ...) says what a resident size is made of: the new space is the young generation that
 * `--max-semi-space-size` sizes.
 */
export function writeProcessMetrics(out: PrometheusText): void {
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  out.family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.').sample('process_resident_memory_bytes', {}, memory.rss);
  out
    .family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.')
    .sample('process_cpu_seconds_total', {}, (cpu.user + cpu.system) / 1e6);
  out
    .family('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.')
    .sample('process_start_time_seconds', {}, startTimeSeconds);
  out.family('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.').sample('nodejs_heap_size_total_bytes', {}, memory.heapTotal);
  out
    .family('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.')
    .sample('nodejs_heap_size_used_bytes', {}, memory.heapUsed);
  out.family('nodejs_external_memory_bytes', 'gauge', 'Node.js external memory size in bytes.').sample('nodejs_external_memory_bytes', {}, memory.external);
  const spaces = getHeapSpaceStatistics();
  out.family('nodejs_heap_space_size_total_bytes', 'gauge', 'Size of a V8 heap space in bytes.');
  for (const space of spaces) out.sample('nodejs_heap_space_size_total_bytes', { space: spaceName(space.space_name) }, space.space_size);
  out.family('nodejs_heap_space_size_used_bytes', 'gauge', 'Bytes used in a V8 heap space.');
  for (const space of spaces) out.sample('nodejs_heap_space_size_used_bytes', { space: spaceName(space.space_name) }, space.space_used_size);
}

/** `new_space` -> `new`, as Prometheus client libraries label the spaces. */
const spaceName = (name: string): string => name.replace(/_space$/, '');
