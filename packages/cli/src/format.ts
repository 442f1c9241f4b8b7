import type { GroupLag, LagSnapshot, ShareGroupLag } from '@lagscale/core';

/** Left-aligned text columns, like kafka-consumer-groups prints them. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatRate(rate: number | null): string {
  if (rate === null) return '-';
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

const dash = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : String(value));

/** `Consumer group 'x' (Stable, 2 members): lag 12, time lag 1.0s, consume 3/s, produce 4/s, status OK`. */
function headline(kind: string, group: GroupLag | ShareGroupLag, lag: string, progress: string): string {
  const members = `${group.members} member${group.members === 1 ? '' : 's'}`;
  return (
    `${kind} '${group.group}' (${group.state}, ${members}): lag ${lag}, time lag ${formatSeconds(group.timeLagSeconds)}, ` +
    `${progress}, produce ${formatRate(group.produceRate)}/s, status ${group.status}` +
    (group.status === 'OK' ? '' : ` (${group.statusReason})`)
  );
}

/** The table, then the partitions whose offsets could not be read, each with why. */
function withProblems(head: string, body: string, partitions: readonly { topic: string; partition: number; error?: string }[]): string {
  const problems = partitions.filter((p) => p.error !== undefined).map((p) => `  ${p.topic}[${p.partition}]: ${p.error}`);
  return [head, '', body, ...(problems.length > 0 ? ['', 'unavailable partitions:', ...problems] : [])].join('\n');
}

export function formatGroup(group: GroupLag): string {
  const lag = group.lagComplete ? String(group.lag) : `>=${group.lag} (some partitions unknown)`;
  const head = headline('Consumer group', group, lag, `consume ${formatRate(group.consumeRate)}/s`);
  if (group.error) return `${head}\n  error: ${group.error}`;
  const rows = group.partitions.map((p) => [
    group.group,
    p.topic,
    String(p.partition),
    dash(p.committedOffset),
    dash(p.logEndOffset),
    dash(p.lag),
    formatSeconds(p.timeLagSeconds),
    formatRate(p.consumeRate),
    formatRate(p.produceRate),
    p.status,
    p.owner?.memberId ?? '-',
    p.owner?.host ?? '-',
    p.owner?.clientId ?? '-',
  ]);
  const body = table(
    [
      'GROUP',
      'TOPIC',
      'PARTITION',
      'CURRENT-OFFSET',
      'LOG-END-OFFSET',
      'LAG',
      'TIME-LAG',
      'CONSUME/S',
      'PRODUCE/S',
      'STATUS',
      'CONSUMER-ID',
      'HOST',
      'CLIENT-ID',
    ],
    rows,
  );
  return withProblems(head, body, group.partitions);
}

/**
 * A share group as kafka-share-groups --describe prints it (GROUP TOPIC PARTITION START-OFFSET
 * LAG), plus the log end, time lag, rates and status. A lag the broker did not count is shown as
 * an upper bound, `<=N`.
 */
export function formatShareGroup(group: ShareGroupLag): string {
  const lag = group.lagExact ? String(group.lag) : `<=${group.lag} (some partitions an upper bound or unknown)`;
  const head = headline('Share group', group, lag, `acknowledge ${formatRate(group.acknowledgeRate)}/s`);
  if (group.error) return `${head}\n  error: ${group.error}`;
  const rows = group.partitions.map((p) => [
    group.group,
    p.topic,
    String(p.partition),
    dash(p.startOffset),
    dash(p.logEndOffset),
    p.lag === null ? '-' : p.lagMode === 'upper_bound' ? `<=${p.lag}` : String(p.lag),
    formatSeconds(p.timeLagSeconds),
    formatRate(p.acknowledgeRate),
    formatRate(p.produceRate),
    p.status,
  ]);
  const body = table(['GROUP', 'TOPIC', 'PARTITION', 'START-OFFSET', 'LOG-END-OFFSET', 'LAG', 'TIME-LAG', 'ACK/S', 'PRODUCE/S', 'STATUS'], rows);
  return withProblems(head, body, group.partitions);
}

export function formatSnapshot(snapshot: LagSnapshot): string {
  const shareGroups = snapshot.shareGroups ?? [];
  const parts = [...snapshot.groups.map(formatGroup), ...shareGroups.map(formatShareGroup)];
  if (snapshot.errors.length > 0) {
    parts.push(`collection errors:\n${snapshot.errors.map((e) => `  ${e.operation} at ${e.broker}: ${e.message}`).join('\n')}`);
  }
  if (snapshot.groups.length === 0 && shareGroups.length === 0) parts.push('no consumer or share groups found');
  return parts.join('\n\n');
}
