/**
 * Arrival traces for the simulator: a CSV of `time,count` rows (one row per fixed step, e.g. one
 * minute) turned into whole records arriving per simulator tick, with time compression, count
 * scaling and slicing. Parsing is a pure function over a string; `loadTrace` only adds the read.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

/** A malformed trace: `line` is the 1-based line of the file the problem is on (0: the file as a whole). */
export class TraceFormatError extends Error {
  readonly code = 'LAGSCALE_TRACE_FORMAT';
  readonly line: number;
  constructor(line: number, message: string, source?: string) {
    const where = source === undefined ? `trace line ${line}` : `${source}:${line}`;
    super(line > 0 ? `${where}: ${message}` : `${source ?? 'trace'}: ${message}`);
    this.line = line;
  }
}

/** The trace as it is in the file: one count per step, missing steps filled with 0. */
export interface TraceSeries {
  /** Column names when the first line is a header, else null. */
  readonly header: readonly [string, string] | null;
  /** `timestamp`: times are dates (seconds since the epoch, UTC when no zone is given); `number`: plain seconds. */
  readonly timeKind: 'timestamp' | 'number';
  /** Time of the first row in seconds (since the epoch for timestamps). */
  readonly start: number;
  /** Seconds between rows: the smallest gap between consecutive rows unless given. */
  readonly stepSeconds: number;
  /** Count per step from `start`; steps the file skips are 0 (nothing was recorded then). */
  readonly counts: readonly number[];
  /** Steps the file skipped (filled with 0). */
  readonly missingSteps: number;
}

export interface TraceParseOptions {
  /** Seconds between rows; inferred from the smallest gap between rows when absent. */
  readonly stepSeconds?: number;
  /** What one unit of a numeric time column is worth in seconds. Default 1. */
  readonly timeUnitSeconds?: number;
  /** Name for error messages, e.g. the file path. */
  readonly source?: string;
}

export interface TraceReplayOptions {
  /** Trace seconds replayed per simulated second: 60 plays one trace minute per simulated second. Default 1. */
  readonly compression?: number;
  /** Multiplies every count (e.g. 0.01 to replay 1% of the traffic). Records stay whole: rounding is cumulative. Default 1. */
  readonly scale?: number;
  /** Simulated seconds per tick. Default 1. */
  readonly tickSeconds?: number;
  /** Where the slice starts: a timestamp (for timestamp traces) or trace seconds after the first row. Default: the first row. */
  readonly start?: string | number;
  /** Trace seconds to replay from `start`. Default: to the end. */
  readonly durationSeconds?: number;
}

/** Records arriving per simulator tick. */
export interface TraceArrivals {
  readonly tickSeconds: number;
  /** Whole records arriving in each tick. */
  readonly perTick: readonly number[];
  readonly totalRecords: number;
  readonly peakPerTick: number;
  /** Trace time (seconds, as in TraceSeries.start) of the first replayed instant. */
  readonly traceStart: number;
  /** Trace seconds replayed. */
  readonly traceSeconds: number;
  readonly compression: number;
  readonly scale: number;
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** Seconds since the epoch of `YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|±HH:MM]`; no zone means UTC. Null when not such a timestamp. */
export function parseTraceTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text.trim());
  if (m === null) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  let ms = Date.UTC(year, month - 1, day, hour, minute, second) + (frac === '' ? 0 : Number(frac) * 1000);
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return null; // 1998-02-30
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return ms / 1000;
}

function splitCsvLine(line: string): string[] {
  return line.split(',').map((field) => {
    const trimmed = field.trim();
    return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1).trim() : trimmed;
  });
}

function parseNumber(text: string): number | null {
  if (text === '') return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/**
 * Parses `time,count` CSV: any header names (a first line whose count column is not a number is
 * the header), blank lines and `#` comments skipped, extra columns ignored. The time column holds
 * timestamps or plain numbers (not mixed) that strictly increase on a fixed step; counts are
 * non-negative numbers. Every mistake is reported with its line number.
 */
export function parseTraceCsv(text: string, options: TraceParseOptions = {}): TraceSeries {
  const source = options.source;
  const unit = options.timeUnitSeconds ?? 1;
  if (!(unit > 0)) throw new RangeError(`timeUnitSeconds must be > 0, got ${unit}`);
  if (options.stepSeconds !== undefined && !(options.stepSeconds > 0)) throw new RangeError(`stepSeconds must be > 0, got ${options.stepSeconds}`);

  const lines = text.split(/\r?\n/);
  let header: [string, string] | null = null;
  let timeKind: TraceSeries['timeKind'] | null = null;
  const times: number[] = [];
  const counts: number[] = [];
  const lineNumbers: number[] = [];
  let sawData = false;
  for (const [index, raw] of lines.entries()) {
    const lineNumber = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = splitCsvLine(line);
    if (fields.length < 2) {
      throw new TraceFormatError(lineNumber, `expected 2 columns (time,count), found ${fields.length}: "${line}"`, source);
    }
    const [timeText = '', countText = ''] = fields;
    if (!sawData && header === null && parseNumber(countText) === null) {
      header = [timeText, countText];
      continue;
    }
    sawData = true;
    const count = parseNumber(countText);
    if (count === null) throw new TraceFormatError(lineNumber, `count "${countText}" is not a number`, source);
    if (count < 0) throw new TraceFormatError(lineNumber, `count ${count} is negative`, source);

    const numeric = parseNumber(timeText);
    const stamp = numeric === null ? parseTraceTimestamp(timeText) : null;
    const kind = numeric !== null ? 'number' : stamp !== null ? 'timestamp' : null;
    if (kind === null) {
      throw new TraceFormatError(lineNumber, `time "${timeText}" is neither a number nor a timestamp (YYYY-MM-DD HH:MM:SS)`, source);
    }
    if (timeKind === null) timeKind = kind;
    else if (kind !== timeKind) {
      throw new TraceFormatError(lineNumber, `time "${timeText}" is a ${kind} but earlier rows hold ${timeKind}s`, source);
    }
    const time = numeric !== null ? numeric * unit : (stamp as number);
    const previous = times[times.length - 1];
    if (previous !== undefined && time <= previous) {
      throw new TraceFormatError(
        lineNumber,
        `time "${timeText}" does not come after the previous row's (line ${lineNumbers[lineNumbers.length - 1]}); rows must be in increasing time order`,
        source,
      );
    }
    times.push(time);
    counts.push(count);
    lineNumbers.push(lineNumber);
  }
  if (times.length === 0 || timeKind === null) throw new TraceFormatError(0, 'no data rows', source);

  let step = options.stepSeconds;
  if (step === undefined) {
    if (times.length < 2) throw new TraceFormatError(0, 'one data row: pass stepSeconds to say how long it lasts', source);
    step = Number.POSITIVE_INFINITY;
    for (let i = 1; i < times.length; i++) step = Math.min(step, (times[i] as number) - (times[i - 1] as number));
  }
  const start = times[0] as number;
  const last = times[times.length - 1] as number;
  const steps = Math.round((last - start) / step) + 1;
  const series = new Array<number>(steps).fill(0);
  for (let i = 0; i < times.length; i++) {
    const offset = ((times[i] as number) - start) / step;
    const slot = Math.round(offset);
    if (Math.abs(offset - slot) > 1e-6) {
      throw new TraceFormatError(
        lineNumbers[i] as number,
        `time is ${((times[i] as number) - start).toFixed(3)} s after the first row, not a multiple of the ${step} s step`,
        source,
      );
    }
    series[slot] = counts[i] as number;
  }
  return { header, timeKind, start, stepSeconds: step, counts: series, missingSteps: steps - times.length };
}

/**
 * Replays a trace into whole records per tick. Each step's count is spread evenly over the step,
 * the trace clock runs `compression` times faster than the simulated one, and counts are scaled by
 * `scale`. Rounding is done on the cumulative count, so the total is round(scale x sum) and no
 * tick gains or loses more than one record to rounding.
 */
export function traceArrivals(series: TraceSeries, options: TraceReplayOptions = {}): TraceArrivals {
  const compression = options.compression ?? 1;
  const scale = options.scale ?? 1;
  const tickSeconds = options.tickSeconds ?? 1;
  if (!(compression > 0) || !Number.isFinite(compression)) throw new RangeError(`compression must be a finite number > 0, got ${compression}`);
  if (!(scale >= 0) || !Number.isFinite(scale)) throw new RangeError(`scale must be a finite number >= 0, got ${scale}`);
  if (!(tickSeconds > 0) || !Number.isFinite(tickSeconds)) throw new RangeError(`tickSeconds must be a finite number > 0, got ${tickSeconds}`);

  const step = series.stepSeconds;
  const traceEnd = series.counts.length * step; // seconds after series.start
  let from = 0;
  if (typeof options.start === 'string') {
    if (series.timeKind !== 'timestamp') throw new RangeError(`start "${options.start}" is a timestamp but the trace's times are plain numbers`);
    const at = parseTraceTimestamp(options.start);
    if (at === null) throw new RangeError(`start "${options.start}" is not a timestamp (YYYY-MM-DD HH:MM:SS)`);
    from = at - series.start;
  } else if (typeof options.start === 'number') {
    from = options.start;
  }
  if (!(from >= 0) || from >= traceEnd) {
    throw new RangeError(`start is ${from} s after the trace's first row; the trace covers 0 to ${traceEnd} s`);
  }
  const duration = options.durationSeconds ?? traceEnd - from;
  if (!(duration > 0)) throw new RangeError(`durationSeconds must be > 0, got ${options.durationSeconds}`);
  const to = Math.min(traceEnd, from + duration);

  // Cumulative records from the trace start to trace offset `at`, uniform within each step.
  const prefix = new Float64Array(series.counts.length + 1);
  for (let i = 0; i < series.counts.length; i++) prefix[i + 1] = (prefix[i] as number) + (series.counts[i] as number);
  const cumulative = (at: number): number => {
    const slot = Math.min(series.counts.length - 1, Math.floor(at / step));
    return (prefix[slot] as number) + (series.counts[slot] as number) * ((at - slot * step) / step);
  };

  const traceSecondsPerTick = tickSeconds * compression;
  const ticks = Math.max(1, Math.ceil((to - from) / traceSecondsPerTick - 1e-9));
  const perTick = new Array<number>(ticks);
  const base = cumulative(from);
  let previous = 0;
  let total = 0;
  let peak = 0;
  for (let tick = 0; tick < ticks; tick++) {
    const at = Math.min(to, from + (tick + 1) * traceSecondsPerTick);
    const rounded = Math.round(scale * (cumulative(at) - base));
    const records = Math.max(0, rounded - previous);
    previous = Math.max(previous, rounded);
    perTick[tick] = records;
    total += records;
    if (records > peak) peak = records;
  }
  return {
    tickSeconds,
    perTick,
    totalRecords: total,
    peakPerTick: peak,
    traceStart: series.start + from,
    traceSeconds: to - from,
    compression,
    scale,
  };
}

/** parseTraceCsv then traceArrivals. */
export function parseTrace(text: string, options: TraceReplayOptions & TraceParseOptions = {}): TraceArrivals {
  return traceArrivals(parseTraceCsv(text, options), options);
}

/** Reads a trace file (the only I/O here; `.gz` is decompressed) and replays it; errors name the file and line. */
export async function loadTrace(path: string, options: TraceReplayOptions & Omit<TraceParseOptions, 'source'> = {}): Promise<TraceArrivals> {
  const bytes = await readFile(path);
  const text = (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  return parseTrace(text, { ...options, source: path });
}
