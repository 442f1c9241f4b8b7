import { lazy, Suspense } from 'react';
import { summarizeSeries } from '../lib/chart';
import { formatClock, MISSING } from '../lib/format';
import { LineSwatch } from './ChartSwatch';

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
  /** Axis labels, when they need to be shorter than `formatValue`. */
  readonly formatTick?: (value: number) => string;
  /** Only whole-number ticks (replicas). */
  readonly integerTicks?: boolean;
  readonly height?: number;
  readonly testId?: string;
}

// Loaded with the first chart, not with the first page (see ChartPlots).
const LinePlot = lazy(() => import('./ChartPlots').then((module) => ({ default: module.LinePlot })));

/**
 * A time-series line chart: one line per series, a legend with the latest values, a tooltip per time
 * (mouse, touch, or arrow keys once the plot has focus), and a visually hidden table with each series'
 * latest, lowest and highest value for screen readers.
 */
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
  if (times.length === 0) {
    return (
      <figure className="chart" data-testid={testId}>
        <figcaption>{title}</figcaption>
        <p className="chart-empty">No data yet: points appear after the next lag collection.</p>
      </figure>
    );
  }

  const summaries = series.map((line) => summarizeSeries(line.values));
  const show = (value: number | null) => (value === null ? MISSING : formatValue(value));
  const first = times[0] ?? 0;
  const last = times[times.length - 1] ?? first;

  return (
    <figure className="chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <Suspense fallback={<div className="chart-canvas" style={{ height }} />}>
        <LinePlot
          title={title}
          description={`Latest: ${series.map((line, index) => `${line.label} ${show(summaries[index]?.latest ?? null)}`).join(', ')}.`}
          times={times}
          series={series}
          formatValue={show}
          formatTick={formatTick}
          integerTicks={integerTicks}
          height={height}
        />
      </Suspense>
      <ul className="legend">
        {series.map((line, index) => (
          <li key={line.key}>
            <LineSwatch color={line.color} dashed={line.dashed} />
            {line.label}: <strong>{show(summaries[index]?.latest ?? null)}</strong>
          </li>
        ))}
      </ul>
      {/* Hidden through a wrapper: a table does not shrink to the 1 px box and would widen the page. */}
      <div className="visually-hidden">
        <table>
          <caption>
            {title}, from {formatClock(first)} to {formatClock(last)}
          </caption>
          <thead>
            <tr>
              <th scope="col">Series</th>
              <th scope="col">Latest</th>
              <th scope="col">Lowest</th>
              <th scope="col">Highest</th>
            </tr>
          </thead>
          <tbody>
            {series.map((line, index) => (
              <tr key={line.key}>
                <th scope="row">{line.label}</th>
                <td>{show(summaries[index]?.latest ?? null)}</td>
                <td>{show(summaries[index]?.lowest ?? null)}</td>
                <td>{show(summaries[index]?.highest ?? null)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
