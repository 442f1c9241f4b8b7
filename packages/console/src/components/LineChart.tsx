import { useEffect, useState } from 'react';
import { formatClock } from '../lib/format';

export interface ChartSeries {
  readonly key: string;
  readonly label: string;
  /** A CSS colour; each series also has its own dash pattern so colour is not the only cue. */
  readonly color: string;
  /** One value per time; null leaves a gap. */
  readonly values: readonly (number | null)[];
  /** Draw as steps (replica counts change at an instant). */
  readonly step?: boolean;
  readonly dashed?: boolean;
}

interface LineChartProps {
  readonly title: string;
  readonly times: readonly number[];
  readonly series: readonly ChartSeries[];
  readonly formatValue?: (value: number) => string;
  /** Axis labels, when they need to be shorter than `formatValue` (the left margin is narrow). */
  readonly formatTick?: (value: number) => string;
  /** Only whole-number ticks (replicas). */
  readonly integerTicks?: boolean;
  readonly height?: number;
  readonly testId?: string;
}

/** Round tick values covering [0, max]: 0, 25, 50 ... */
export function niceTicks(max: number, count = 4, integerOnly = false): number[] {
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

/** SVG path of one series; gaps at nulls, optional steps. */
export function linePath(points: readonly { x: number; y: number | null }[], step: boolean): string {
  let path = '';
  let previous: { x: number; y: number } | null = null;
  for (const point of points) {
    if (point.y === null) {
      previous = null;
      continue;
    }
    const x = point.x.toFixed(1);
    const y = point.y.toFixed(1);
    if (previous === null) path += `M${x},${y}`;
    else if (step) path += `H${x}V${y}`;
    else path += `L${x},${y}`;
    previous = { x: point.x, y: point.y };
  }
  return path;
}

const MARGIN = { top: 10, right: 14, bottom: 26, left: 58 };

/** Width of the element given to `ref`; a callback ref, because the element appears only once there is data. */
function useWidth(fallback: number) {
  const [element, ref] = useState<HTMLDivElement | null>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    if (!element || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver((entries) => {
      const measured = entries[0]?.contentRect.width;
      if (measured && measured > 0) setWidth(Math.round(measured));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [element]);
  return { ref, width };
}

/** A time-series line chart in plain SVG: axes, grid, one line per series, a legend with the latest values. */
export function LineChart({
  title,
  times,
  series,
  formatValue = String,
  formatTick = formatValue,
  integerTicks = false,
  height = 220,
  testId,
}: LineChartProps) {
  const { ref, width } = useWidth(640);
  const latest = series.map((line) => {
    for (let index = line.values.length - 1; index >= 0; index -= 1) {
      const value = line.values[index];
      if (value !== null && value !== undefined) return value;
    }
    return null;
  });
  const summary = series.map((line, index) => `${line.label} ${latest[index] === null ? 'unknown' : formatValue(latest[index] ?? 0)}`).join(', ');

  if (times.length === 0) {
    return (
      <figure className="chart" data-testid={testId}>
        <figcaption>{title}</figcaption>
        <p className="chart-empty">No data yet: points appear after the next lag collection.</p>
      </figure>
    );
  }

  const first = times[0] ?? 0;
  const last = times[times.length - 1] ?? first;
  const start = first === last ? first - 30_000 : first;
  const end = first === last ? last + 30_000 : last;
  const max = Math.max(0, ...series.flatMap((line) => line.values.filter((value): value is number => value !== null && Number.isFinite(value))));
  const ticks = niceTicks(max, 4, integerTicks);
  const top = ticks[ticks.length - 1] ?? 1;
  const plotWidth = Math.max(10, width - MARGIN.left - MARGIN.right);
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const x = (time: number) => MARGIN.left + ((time - start) / (end - start)) * plotWidth;
  const y = (value: number) => MARGIN.top + plotHeight - (value / top) * plotHeight;
  const timeTickCount = Math.max(2, Math.min(6, Math.floor(plotWidth / 110)));
  const timeTicks = Array.from({ length: timeTickCount }, (_, index) => start + ((end - start) * index) / (timeTickCount - 1));

  return (
    <figure className="chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <div ref={ref} className="chart-canvas">
        <svg width={width} height={height} role="img" aria-label={`${title}. Latest: ${summary}.`}>
          {ticks.map((tick) => (
            <g key={tick}>
              <line className="chart-grid" x1={MARGIN.left} x2={MARGIN.left + plotWidth} y1={y(tick)} y2={y(tick)} />
              <text className="chart-tick" x={MARGIN.left - 6} y={y(tick)} textAnchor="end" dominantBaseline="middle">
                {formatTick(tick)}
              </text>
            </g>
          ))}
          {timeTicks.map((time, index) => (
            <text
              key={time}
              className="chart-tick"
              x={x(time)}
              y={height - 8}
              textAnchor={index === 0 ? 'start' : index === timeTicks.length - 1 ? 'end' : 'middle'}
            >
              {formatClock(time)}
            </text>
          ))}
          {series.map((line) => (
            <path
              key={line.key}
              d={linePath(
                times.map((time, index) => {
                  const value = line.values[index];
                  return { x: x(time), y: value === null || value === undefined ? null : y(value) };
                }),
                line.step ?? false,
              )}
              fill="none"
              stroke={line.color}
              strokeWidth={2}
              strokeDasharray={line.dashed ? '6 4' : undefined}
              data-series={line.key}
            />
          ))}
        </svg>
      </div>
      <ul className="legend">
        {series.map((line, index) => (
          <li key={line.key}>
            <svg width="22" height="10" aria-hidden="true">
              <line x1="0" x2="22" y1="5" y2="5" stroke={line.color} strokeWidth="2" strokeDasharray={line.dashed ? '6 4' : undefined} />
            </svg>
            {line.label}: <strong>{latest[index] === null ? '—' : formatValue(latest[index] ?? 0)}</strong>
          </li>
        ))}
      </ul>
    </figure>
  );
}
