import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { loadTrace, parseTrace, parseTraceCsv, parseTraceTimestamp, TraceFormatError, traceArrivals } from '@lagscale/core';
import { describe, expect, it } from 'vitest';

const WORLD_CUP = new URL('../../../data/traces/worldcup98-per-minute.csv.gz', import.meta.url).pathname;

const MINUTES = ['minute,requests', '1998-04-30 21:30:00,60', '1998-04-30 21:31:00,120', '1998-04-30 21:32:00,0'].join('\n');

function formatError(text: string, stepSeconds?: number): TraceFormatError {
  try {
    parseTraceCsv(text, stepSeconds === undefined ? {} : { stepSeconds });
  } catch (error) {
    if (error instanceof TraceFormatError) return error;
    throw error;
  }
  throw new Error('expected a TraceFormatError');
}

describe('parseTraceCsv', () => {
  it('reads timestamps (UTC when no zone) and counts under any header, and infers the step', () => {
    const series = parseTraceCsv(MINUTES);
    expect(series.header).toEqual(['minute', 'requests']);
    expect(series.timeKind).toBe('timestamp');
    expect(series.start).toBe(Date.UTC(1998, 3, 30, 21, 30) / 1000);
    expect(series.stepSeconds).toBe(60);
    expect(series.counts).toEqual([60, 120, 0]);
    expect(series.missingSteps).toBe(0);
  });

  it('fills the steps a file skips with 0', () => {
    const series = parseTraceCsv('t,n\n1998-05-08 03:20:00,5\n1998-05-08 03:21:00,6\n1998-05-08 03:24:00,7\n');
    expect(series.counts).toEqual([5, 6, 0, 0, 7]);
    expect(series.missingSteps).toBe(2);
  });

  it('reads plain numbers without a header, CRLF, quotes, comments and extra columns', () => {
    const series = parseTraceCsv('# seconds,count\r\n0,"3",x\r\n10,4\r\n\r\n20,5\r\n');
    expect(series).toMatchObject({ header: null, timeKind: 'number', start: 0, stepSeconds: 10, counts: [3, 4, 5] });
    expect(parseTraceCsv('0,1\n1,2', { timeUnitSeconds: 60 }).stepSeconds).toBe(60);
  });

  it('parses timestamps with zones and fractions, and rejects impossible dates', () => {
    expect(parseTraceTimestamp('1998-06-10T12:00:00Z')).toBe(Date.UTC(1998, 5, 10, 12) / 1000);
    expect(parseTraceTimestamp('1998-06-10 14:00:00+02:00')).toBe(Date.UTC(1998, 5, 10, 12) / 1000);
    expect(parseTraceTimestamp('1998-06-10 12:00:00.5')).toBe(Date.UTC(1998, 5, 10, 12) / 1000 + 0.5);
    expect(parseTraceTimestamp('1998-02-30 00:00:00')).toBeNull();
    expect(parseTraceTimestamp('yesterday')).toBeNull();
  });

  it('cites the line of every malformed row', () => {
    expect(formatError('minute,requests\n1998-04-30 21:30:00,60\n1998-04-30 21:31:00,abc\n').message).toBe('trace line 3: count "abc" is not a number');
    expect(formatError('a,b\n0,1\n5\n').message).toBe('trace line 3: expected 2 columns (time,count), found 1: "5"');
    expect(formatError('0,1\n60,-4\n').message).toBe('trace line 2: count -4 is negative');
    expect(formatError('0,1\n60,2\n30,3\n').message).toBe(
      'trace line 3: time "30" does not come after the previous row\'s (line 2); rows must be in increasing time order',
    );
    expect(formatError('0,1\nnoon,2\n').message).toBe('trace line 2: time "noon" is neither a number nor a timestamp (YYYY-MM-DD HH:MM:SS)');
    expect(formatError('0,1\n1998-06-10 12:00:00,2\n').message).toBe('trace line 2: time "1998-06-10 12:00:00" is a timestamp but earlier rows hold numbers');
    expect(formatError('0,1\n60,2\n90,3\n', 60).message).toBe('trace line 3: time is 90.000 s after the first row, not a multiple of the 60 s step');
    expect(formatError('minute,requests\n').message).toBe('trace: no data rows');
    const error = formatError('0,1\n60,x\n');
    expect(error.code).toBe('LAGSCALE_TRACE_FORMAT');
    expect(error.line).toBe(2);
  });
});

describe('traceArrivals', () => {
  it('compresses time: one trace minute per simulated second, or per two', () => {
    const series = parseTraceCsv(MINUTES);
    expect(traceArrivals(series, { compression: 60 }).perTick).toEqual([60, 120, 0]);
    // 30x: each minute lasts 2 simulated seconds, its count spread evenly over them.
    const slower = traceArrivals(series, { compression: 30 });
    expect(slower.perTick).toEqual([30, 30, 60, 60, 0, 0]);
    expect(slower).toMatchObject({ totalRecords: 180, peakPerTick: 60, traceSeconds: 180, compression: 30, scale: 1 });
    // Real time: 60 ticks per minute, 1 then 2 records a second.
    const realTime = traceArrivals(series);
    expect(realTime.perTick).toHaveLength(180);
    expect(realTime.perTick.slice(58, 62)).toEqual([1, 1, 2, 2]);
  });

  it('scales counts and rounds cumulatively, so whole records add up to the scaled total', () => {
    expect(traceArrivals(parseTraceCsv(MINUTES), { compression: 60, scale: 0.5 }).perTick).toEqual([30, 60, 0]);
    // 0.1 × (7, 7, 7): cumulative 0.7, 1.4, 2.1 round to 1, 1, 2.
    const scaled = traceArrivals(parseTraceCsv('0,7\n60,7\n120,7'), { compression: 60, scale: 0.1 });
    expect(scaled.perTick).toEqual([1, 0, 1]);
    expect(scaled.totalRecords).toBe(2);
  });

  it('slices by timestamp or by seconds from the first row, in trace time', () => {
    const series = parseTraceCsv(MINUTES);
    const byStamp = traceArrivals(series, { start: '1998-04-30 21:31:00', durationSeconds: 60, compression: 60 });
    expect(byStamp.perTick).toEqual([120]);
    expect(byStamp.traceStart).toBe(Date.UTC(1998, 3, 30, 21, 31) / 1000);
    expect(traceArrivals(series, { start: 60, compression: 60 }).perTick).toEqual([120, 0]);
    expect(() => traceArrivals(series, { start: 600 })).toThrow("start is 600 s after the trace's first row; the trace covers 0 to 180 s");
    expect(() => traceArrivals(parseTraceCsv('0,1\n1,1'), { start: '1998-04-30 21:31:00' })).toThrow(/trace's times are plain numbers/);
    expect(() => traceArrivals(series, { compression: 0 })).toThrow('compression must be a finite number > 0, got 0');
  });

  it('names the file in errors from loadTrace', async () => {
    await expect(loadTrace('/nonexistent/trace.csv')).rejects.toThrow(/ENOENT/);
    expect(() => parseTrace('0,1\n60,x', { source: 'w.csv' })).toThrow('w.csv:2: count "x" is not a number');
  });
});

describe('the World Cup 98 trace', () => {
  it('replays an hour of 10 June 1998 at one minute per second with the same total', async () => {
    const arrivals = await loadTrace(WORLD_CUP, { start: '1998-06-10 00:00:00', durationSeconds: 3600, compression: 60 });
    expect(arrivals.perTick).toHaveLength(60);
    const rows = gunzipSync(await readFile(WORLD_CUP))
      .toString('utf8')
      .split('\n')
      .filter((line) => line.startsWith('1998-06-10 00:'));
    expect(rows).toHaveLength(60);
    expect(arrivals.perTick).toEqual(rows.map((line) => Number(line.split(',')[1])));
    expect(arrivals.totalRecords).toBe(rows.reduce((sum, line) => sum + Number(line.split(',')[1]), 0));
  });

  it('covers 64,940 minutes with a few skipped ones, peaking at 128,565 requests a minute', async () => {
    const series = parseTraceCsv(gunzipSync(await readFile(WORLD_CUP)).toString('utf8'));
    expect(series.stepSeconds).toBe(60);
    expect(series.counts.length - series.missingSteps).toBe(64_940);
    expect(Math.max(...series.counts)).toBe(128_565);
  });
});
