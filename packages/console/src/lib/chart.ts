/** Pure helpers for the charts: time ticks on clock boundaries and the numbers a series is summed up by. */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const TICK_STEPS = [1, 2, 5, 10, 15, 30]
  .map((s) => s * SECOND)
  .concat(
    [1, 2, 5, 10, 15, 30].map((m) => m * MINUTE),
    [1, 2, 3, 6, 12, 24].map((h) => h * HOUR),
  );

/**
 * Times for the axis of [start, end] on round local clock values (every 10 s, 5 min, 1 h ...), at most
 * `maxCount` of them. The chart drops some when they would not fit its width.
 */
export function clockTicks(start: number, end: number, maxCount = 8): number[] {
  if (!(end > start)) return [start];
  const span = end - start;
  const step = TICK_STEPS.find((candidate) => span / candidate <= maxCount) ?? Math.ceil(span / maxCount / HOUR) * HOUR;
  // Round on the local clock, so hours fall on :00 also where the offset from UTC is not whole hours.
  const offset = -new Date(start).getTimezoneOffset() * MINUTE;
  const ticks: number[] = [];
  for (let tick = Math.ceil((start + offset) / step) * step - offset; tick <= end; tick += step) ticks.push(tick);
  return ticks;
}

/**
 * Round values for the value axis, from 0 to the first one at or above `max`: 0, 500, 1000, 1500 for
 * 1234. Unlike a fixed number of ticks, the top stays close to the data, so little of the plot is blank.
 */
export function valueTicks(max: number, count = 4, integerOnly = false): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough) ?? 10 * magnitude;
  const finalStep = integerOnly ? Math.max(1, Math.ceil(step)) : step;
  const ticks: number[] = [];
  for (let value = 0; value < max + finalStep; value += finalStep) {
    ticks.push(Number(value.toPrecision(12)));
    if (value >= max) break;
  }
  return ticks;
}

export interface SeriesSummary {
  readonly latest: number | null;
  readonly lowest: number | null;
  readonly highest: number | null;
}

/** The last known value and the range of a series; nulls (gaps) are skipped. */
export function summarizeSeries(values: readonly (number | null)[]): SeriesSummary {
  let latest: number | null = null;
  let lowest: number | null = null;
  let highest: number | null = null;
  for (const value of values) {
    if (value === null || !Number.isFinite(value)) continue;
    latest = value;
    lowest = lowest === null ? value : Math.min(lowest, value);
    highest = highest === null ? value : Math.max(highest, value);
  }
  return { latest, lowest, highest };
}

/** Rough width in pixels of a one-line label, to size the margins of a chart before it is drawn. */
export function textWidth(text: string, pixelsPerCharacter = 7): number {
  return Math.ceil(text.length * pixelsPerCharacter);
}

/** Height of a horizontal bar plot: a row per bar and a little room above and below. */
export function barPlotHeight(bars: number): number {
  return bars * 28 + 8;
}
