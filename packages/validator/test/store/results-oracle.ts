import type { FieldCount, JobSummary, ResultInput, ResultQuery, RuleCount, SeverityCount, StoredViolation } from '@lagscale/validator';

/**
 * Generated results and the answers the store must give for them, computed the slow and obvious
 * way: filter arrays, count with maps.
 */

const VIOLATION_KINDS: readonly StoredViolation[] = [
  { ruleId: 'a.required', severity: 'error', path: '/a', message: 'is required' },
  { ruleId: 'items.b.range', severity: 'error', path: '/items/#/b', message: 'must be at most 10' },
  { ruleId: 'c.pattern', severity: 'warning', path: '/c', message: 'does not match "[A-Z]+"' },
  // paths that a prefix search for /items must not take
  { ruleId: 'schema:additionalProperties', severity: 'error', path: '/itemsX', message: 'is not allowed by the schema' },
  { ruleId: 'd.enum', severity: 'warning', path: '/items-x', message: 'is not one of ON, OFF' },
  { ruleId: 'e.total', severity: 'error', path: '/items', message: 'Total must equal the SUM of items' },
];

/** A small deterministic generator (LCG), so a failure reproduces. */
export function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

/** `count` results numbered from `first`: about a third without violations, the rest with one to four. */
export function generateResults(jobId: string, count: number, seed = 7, first = 1): ResultInput[] {
  const next = random(seed);
  const results: ResultInput[] = [];
  for (let recordNumber = first; recordNumber < first + count; recordNumber++) {
    const violations: StoredViolation[] = [];
    if (next() > 0.35) {
      const howMany = 1 + Math.floor(next() * 4);
      for (let i = 0; i < howMany; i++) {
        const kind = VIOLATION_KINDS[Math.floor(next() * VIOLATION_KINDS.length)] as StoredViolation;
        violations.push({ ...kind, path: kind.path.replace('#', String(Math.floor(next() * 3))) });
      }
    }
    results.push({
      jobId,
      recordNumber,
      valid: !violations.some((violation) => violation.severity === 'error'),
      violations,
      ...(next() < 0.1 ? { truncated: true } : {}),
      record: JSON.stringify({ n: recordNumber }),
    });
  }
  return results;
}

/** The last result stored for each record, as the store keeps them. */
export function latest(batches: readonly (readonly ResultInput[])[]): ResultInput[] {
  const byRecord = new Map<string, ResultInput>();
  for (const batch of batches) for (const result of batch) byRecord.set(`${result.jobId}/${result.recordNumber}`, result);
  return [...byRecord.values()].sort((a, b) => a.recordNumber - b.recordNumber);
}

function violationMatches(violation: StoredViolation, query: Omit<ResultQuery, 'limit'>): boolean {
  if (query.ruleId !== undefined && violation.ruleId !== query.ruleId) return false;
  if (query.severity !== undefined && violation.severity !== query.severity) return false;
  if (query.field !== undefined && violation.path !== query.field && !violation.path.startsWith(`${query.field}/`)) return false;
  if (query.text !== undefined && !violation.message.toLowerCase().includes(query.text.toLowerCase())) return false;
  return true;
}

function hasViolationFilter(query: Omit<ResultQuery, 'limit'>): boolean {
  return query.ruleId !== undefined || query.severity !== undefined || query.field !== undefined || query.text !== undefined;
}

/** The matching violations of each matching record. */
function matchingViolations(results: readonly ResultInput[], query: Omit<ResultQuery, 'limit'>): Map<number, StoredViolation[]> {
  const matches = new Map<number, StoredViolation[]>();
  for (const result of results) {
    if (result.jobId !== query.jobId) continue;
    if (query.valid !== undefined && result.valid !== query.valid) continue;
    const violations = result.violations.filter((violation) => violationMatches(violation, query));
    if (hasViolationFilter(query) && violations.length === 0) continue;
    matches.set(result.recordNumber, violations);
  }
  return matches;
}

export function expectedRecordNumbers(results: readonly ResultInput[], query: Omit<ResultQuery, 'limit'>): number[] {
  return [...matchingViolations(results, query).keys()].sort((a, b) => a - b);
}

export function expectedFacets(results: readonly ResultInput[], query: Omit<ResultQuery, 'limit'>) {
  const matches = matchingViolations(results, query);
  return {
    records: matches.size,
    byRule: countBy(matches, (violation) => `${violation.ruleId}\u0000${violation.severity}`).map(
      ([key, count]): RuleCount => ({ ruleId: key.split('\u0000')[0] as string, severity: key.split('\u0000')[1] as 'error' | 'warning', ...count }),
    ),
    bySeverity: countBy(matches, (violation) => violation.severity).map(
      ([severity, count]): SeverityCount => ({ severity: severity as 'error' | 'warning', ...count }),
    ),
  };
}

export function expectedSummary(results: readonly ResultInput[], jobId: string): Omit<JobSummary, 'byFieldTruncated'> {
  const mine = results.filter((result) => result.jobId === jobId);
  const all = new Map(mine.map((result) => [result.recordNumber, [...result.violations]]));
  return {
    jobId,
    records: mine.length,
    valid: mine.filter((result) => result.valid).length,
    invalid: mine.filter((result) => !result.valid).length,
    warningsOnly: mine.filter((result) => result.valid && result.violations.some((violation) => violation.severity === 'warning')).length,
    truncated: mine.filter((result) => result.truncated === true).length,
    violations: mine.reduce((sum, result) => sum + result.violations.length, 0),
    byRule: countBy(all, (violation) => `${violation.ruleId}\u0000${violation.severity}`).map(
      ([key, count]): RuleCount => ({ ruleId: key.split('\u0000')[0] as string, severity: key.split('\u0000')[1] as 'error' | 'warning', ...count }),
    ),
    byField: countBy(all, (violation) => violation.path).map(([path, count]): FieldCount => ({ path, ...count })),
    bySeverity: countBy(all, (violation) => violation.severity).map(
      ([severity, count]): SeverityCount => ({ severity: severity as 'error' | 'warning', ...count }),
    ),
  };
}

/** [key, { records, violations }] sorted by key, so lists compare whatever order the store gives ties. */
function countBy(matches: Map<number, StoredViolation[]>, keyOf: (violation: StoredViolation) => string): [string, { records: number; violations: number }][] {
  const counts = new Map<string, { records: Set<number>; violations: number }>();
  for (const [recordNumber, violations] of matches) {
    for (const violation of violations) {
      const key = keyOf(violation);
      let count = counts.get(key);
      if (count === undefined) {
        count = { records: new Set(), violations: 0 };
        counts.set(key, count);
      }
      count.records.add(recordNumber);
      count.violations++;
    }
  }
  return [...counts]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, count]): [string, { records: number; violations: number }] => [key, { records: count.records.size, violations: count.violations }]);
}

/** A list of counts sorted the way `countBy` sorts, to compare with the store's (most violations first) order. */
export function byKey<T extends { ruleId?: string; severity?: string; path?: string }>(counts: readonly T[]): T[] {
  const key = (count: T) => count.path ?? `${count.ruleId ?? count.severity}\u0000${count.severity}`;
  return [...counts].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
