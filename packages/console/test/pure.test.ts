import { describe, expect, test } from 'vitest';
import { errorFromResponse } from '../src/api/client';
import { buildQuery, contentTypeForFile, EMPTY_RESULT_FILTERS, jobUploadQuery, resultsQuery } from '../src/api/query';
import { EventStreamParser, reconnectDelayMs } from '../src/api/sse';
import type { HistoryPoint } from '../src/api/types';
import { clockTicks, summarizeSeries, valueTicks } from '../src/lib/chart';
import { formatClock, formatLag, formatRate, formatSeconds, formatSecondsShort, progressPercent } from '../src/lib/format';
import { annotateErrors, locateJson } from '../src/lib/json-locations';
import { documentFromEditor, offsetOfLine } from '../src/lib/rule-set-editor';
import { collapseDecisions, mergeDecisions, mergePoints } from '../src/lib/series';
import { matchPath, parseHash, pathOf } from '../src/router';
import { decision } from './fixtures';

describe('event stream parser', () => {
  test('frames events split across chunks, with CRLF, comments and multi-line data', () => {
    const parser = new EventStreamParser();
    expect(parser.push(': keep-alive\n\nevent: gro')).toEqual([]);
    expect(parser.push('ups\r\ndata: {"a":\r\ndata: 1}\r')).toEqual([]);
    expect(parser.push('\n\r\nevent: point\ndata: 2\nid: 7\n\ndata: plain\n\n')).toEqual([
      { event: 'groups', data: '{"a":\n1}', id: null },
      { event: 'point', data: '2', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
  });

  test('remembers the retry the server asked for, and backs off to 15 s', () => {
    const parser = new EventStreamParser();
    parser.push('retry: 2500\n\n');
    expect(parser.retryMs).toBe(2500);
    expect(reconnectDelayMs(0, 2500)).toBe(2500);
    expect([0, 1, 2, 3, 4, 5, 9].map((attempt) => reconnectDelayMs(attempt, null))).toEqual([1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });
});

describe('JSON locations for the editor', () => {
  const text = '{\n  "name": "orders",\n  "rules": [\n    { "id": "a", "type": "pattern" },\n    {\n      "id": "b~/x",\n      "pattern": "("\n    }\n  ]\n}\n';

  test('finds the line of each pointer, escaped keys included', () => {
    const locations = locateJson(text);
    expect(locations.syntaxError).toBeNull();
    const annotations = annotateErrors(text, [
      { pointer: '/rules/1/pattern', message: 'invalid regular expression' },
      { pointer: '/rules/0', message: 'pattern rule needs "pattern"' },
      { pointer: '', message: 'whole document' },
    ]);
    expect(annotations.map((annotation) => [annotation.line, annotation.exact])).toEqual([
      [7, true],
      [4, true],
      [1, true],
    ]);
    expect(locations.pointers.get('/rules/1/id')).toBe(text.indexOf('"id": "b~/x"'));
  });

  test('a pointer to something missing is shown at its nearest parent', () => {
    const [annotation] = annotateErrors(text, [{ pointer: '/rules/0/pattern', message: 'required' }]);
    expect(annotation).toMatchObject({ pointer: '/rules/0/pattern', line: 4, exact: false });
    const [outside] = annotateErrors('[]', [{ pointer: 'no-slash', message: 'odd pointer' }]);
    expect(outside).toMatchObject({ line: 1, exact: false });
  });

  test('syntax mistakes name their line and are not sent', () => {
    const broken = '{\n  "name": "x",\n  "rules": [\n    { "id": "a" }\n    { "id": "b" }\n  ]\n}';
    expect(locateJson(broken).syntaxError?.message).toBe("expected ',' or ']' after an array element, found '{'");
    const prepared = documentFromEditor(broken, 'x');
    expect('annotation' in prepared && prepared.annotation.line).toBe(5);
    expect(locateJson('{"a": 1,}').syntaxError?.message).toContain('property name');
    expect(locateJson('{"a": "unterminated').syntaxError?.message).toBe('unterminated string');
    expect(locateJson('1 2').syntaxError?.message).toContain('after the end');
  });

  test('the name field names the rule set', () => {
    expect(documentFromEditor('{"name": "old", "rules": []}', ' new ')).toEqual({ document: { name: 'new', rules: [] } });
    expect(documentFromEditor('{"name": "kept"}', '')).toEqual({ document: { name: 'kept' } });
    expect(offsetOfLine('a\nbb\nccc', 3)).toBe(5);
  });
});

describe('query strings', () => {
  test('leave out empty parameters', () => {
    expect(buildQuery({ a: 1, b: '', c: undefined, d: null, e: false, f: 'x y' })).toBe('?a=1&e=false&f=x+y');
    expect(buildQuery({ a: '' })).toBe('');
  });

  test('results filters, with facets on the first page only', () => {
    expect(resultsQuery(EMPTY_RESULT_FILTERS, { cursor: null, limit: 50 })).toBe('?limit=50&facets=true');
    const filters = { validity: 'invalid', ruleId: ' total.adds-up ', severity: 'error', field: 'items/0/sku', text: 'must' } as const;
    expect(Object.fromEntries(new URLSearchParams(resultsQuery(filters, { cursor: 'c2', limit: 20 })))).toEqual({
      valid: 'false',
      ruleId: 'total.adds-up',
      severity: 'error',
      field: '/items/0/sku',
      text: 'must',
      limit: '20',
      cursor: 'c2',
      facets: 'false',
    });
  });

  test('uploads name the rule set, the job and the file; the content type follows the extension', () => {
    expect(jobUploadQuery({ ruleSet: 'customer-orders', format: '', fileName: 'a b.ndjson', jobId: 'j1' })).toBe(
      '?ruleSet=customer-orders&jobId=j1&filename=a+b.ndjson',
    );
    expect(contentTypeForFile('orders.csv', '')).toBe('text/csv');
    expect(contentTypeForFile('orders.jsonl', '')).toBe('application/x-ndjson');
    expect(contentTypeForFile('orders.txt', 'json')).toBe('application/json');
    expect(contentTypeForFile('orders.bin', '')).toBe('application/octet-stream');
  });
});

describe('server errors', () => {
  test("keep the server's code, message and details", () => {
    const error = errorFromResponse(
      422,
      'Unprocessable Entity',
      JSON.stringify({ error: 'rule_set_invalid', message: 'bad', details: [{ pointer: '/rules/0', message: 'x' }, 'junk'] }),
    );
    expect([error.status, error.code, error.message, error.details]).toEqual([422, 'rule_set_invalid', 'bad', [{ pointer: '/rules/0', message: 'x' }]]);
    const proxy = errorFromResponse(502, 'Bad Gateway', '<html>upstream down</html>');
    expect(proxy.code).toBe('http_502');
    expect(proxy.message).toContain('502 Bad Gateway');
  });
});

describe('series', () => {
  const point = (t: number, lag: number): HistoryPoint => ({
    t,
    lag,
    timeLagSeconds: null,
    consumeRate: null,
    produceRate: null,
    currentReplicas: 1,
    desiredReplicas: 1,
  });

  test('live points replace same-time points, stay in order, and keep 30 minutes', () => {
    const merged = mergePoints([point(1000, 1), point(2000, 2)], [point(2000, 20), point(1500, 15)]);
    expect(merged.map((p) => [p.t, p.lag])).toEqual([
      [1000, 1],
      [1500, 15],
      [2000, 20],
    ]);
    expect(mergePoints([point(0, 1)], [point(31 * 60_000, 2)]).map((p) => p.t)).toEqual([31 * 60_000]);
  });

  test('decisions merge by time and keep the newest', () => {
    const merged = mergeDecisions([decision({ time: 3 }), decision({ time: 1 })], [decision({ time: 3, desiredReplicas: 9 }), decision({ time: 4 })], 2);
    expect(merged.map((d) => [d.time, d.desiredReplicas])).toEqual([
      [3, 9],
      [4, 4],
    ]);
  });
});

describe('formatting', () => {
  test('numbers people read', () => {
    expect(formatLag(12345, false)).toBe('≥ 12,345');
    expect(formatLag(null)).toBe('—');
    expect(formatRate(3.04)).toBe('3/s');
    expect(formatRate(1234.5)).toBe('1,235/s');
    expect([formatSeconds(0.42), formatSeconds(42), formatSeconds(185), formatSeconds(7380)]).toEqual(['0.4 s', '42 s', '3 min 05 s', '2 h 03 min']);
    expect([formatSecondsShort(45), formatSecondsShort(90), formatSecondsShort(7200)]).toEqual(['45 s', '1.5 min', '2 h']);
    expect([progressPercent(null), progressPercent(0.999), progressPercent(1), progressPercent(0.57)]).toEqual([null, 99, 100, 57]);
  });

  test('time axis ticks fall on round clock times, at most eight', () => {
    const at = (hours: number, minutes: number, seconds: number) => new Date(2026, 10, 25, hours, minutes, seconds).getTime();
    // A 40 s demo: every 5 s.
    expect(clockTicks(at(10, 0, 7), at(10, 0, 47)).map(formatClock)).toEqual([
      '10:00:10',
      '10:00:15',
      '10:00:20',
      '10:00:25',
      '10:00:30',
      '10:00:35',
      '10:00:40',
      '10:00:45',
    ]);
    // The 30 minute history window: every 5 min.
    expect(clockTicks(at(10, 3, 20), at(10, 33, 20)).map(formatClock)).toEqual(['10:05:00', '10:10:00', '10:15:00', '10:20:00', '10:25:00', '10:30:00']);
    expect(clockTicks(at(9, 0, 0), at(12, 0, 0), 4).map(formatClock)).toEqual(['09:00:00', '10:00:00', '11:00:00', '12:00:00']);
    expect(clockTicks(5, 5)).toEqual([5]);
  });

  test('value axis ticks are round and end at the first one above the data', () => {
    expect(valueTicks(1234)).toEqual([0, 500, 1000, 1500]);
    expect(valueTicks(2200)).toEqual([0, 1000, 2000, 3000]);
    expect(valueTicks(3, 4, true)).toEqual([0, 1, 2, 3]);
    expect(valueTicks(0.3)).toEqual([0, 0.1, 0.2, 0.3]);
    expect(valueTicks(0)).toEqual([0, 1]);
  });

  test('a series is summed up by its latest value and range, gaps skipped', () => {
    expect(summarizeSeries([3, null, 1, 7, null])).toEqual({ latest: 7, lowest: 1, highest: 7 });
    expect(summarizeSeries([null, null])).toEqual({ latest: null, lowest: null, highest: null });
  });
});

describe('router', () => {
  test('matches patterns and encodes segments', () => {
    expect(matchPath('/groups/:group', '/groups/a%2Fb')).toEqual({ group: 'a/b' });
    expect(matchPath('/groups/:group', '/groups')).toBeNull();
    expect(parseHash('#/jobs?ruleSet=x')).toEqual({ path: '/jobs', search: 'ruleSet=x' });
    expect(parseHash('')).toEqual({ path: '/', search: '' });
    expect(pathOf('jobs', 'j 1', 'results', 4)).toBe('/jobs/j%201/results/4');
  });
});

describe('collapseDecisions', () => {
  test('folds runs of unchanged no-op decisions into one row and keeps every scale decision', () => {
    const T = Date.parse('2026-11-25T10:00:00.000Z');
    const quiet = (i: number, replicas = 3) => decision({ time: T + i * 5000, action: 'none', currentReplicas: replicas, desiredReplicas: replicas });
    const newestFirst = [
      quiet(10),
      quiet(9),
      decision({ time: T + 8 * 5000, action: 'scale_up', currentReplicas: 2, desiredReplicas: 3 }),
      ...Array.from({ length: 700 }, (_, k) => quiet(7 - k * 0.001, 2)),
      quiet(-1000, 5),
    ];
    const rows = collapseDecisions(newestFirst);
    expect(rows.map((row) => (row.kind === 'run' ? `run ${row.count}` : row.decision.action))).toEqual(['run 2', 'scale_up', 'run 700', 'none']);
    const idle = rows[2];
    expect(idle?.kind === 'run' && idle.to - idle.from).toBe(Math.round(699 * 0.001 * 5000));
    expect(collapseDecisions([])).toEqual([]);
  });
});
