import { lazy, Suspense } from 'react';
import { barPlotHeight } from '../lib/chart';

export interface Bar {
  readonly key: string;
  readonly label: string;
  readonly value: number;
  /** Shown after the value, e.g. "in 12 records". */
  readonly note?: string;
  readonly tone?: 'bad' | 'warn' | 'neutral';
}

interface BarChartProps {
  readonly title: string;
  readonly bars: readonly Bar[];
  readonly formatValue?: (value: number) => string;
  readonly testId?: string;
}

// Loaded with the first chart, not with the first page (see ChartPlots).
const BarPlot = lazy(() => import('./ChartPlots').then((module) => ({ default: module.BarPlot })));

/**
 * Horizontal bars, one per row: the label on the left, the value and its note in a column on the right,
 * so every number is text; a tooltip per bar; a visually hidden table with the same rows for screen readers.
 */
export function BarChart({ title, bars, formatValue = String, testId }: BarChartProps) {
  if (bars.length === 0) {
    return (
      <figure className="chart" data-testid={testId}>
        <figcaption>{title}</figcaption>
        <p className="chart-empty">Nothing to show.</p>
      </figure>
    );
  }

  return (
    <figure className="chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <Suspense fallback={<div className="chart-canvas" style={{ height: barPlotHeight(bars.length) }} />}>
        <BarPlot title={title} bars={bars} formatValue={formatValue} />
      </Suspense>
      {/* Hidden through a wrapper: a table does not shrink to the 1 px box and would widen the page. */}
      <div className="visually-hidden">
        <table>
          <caption>{title}</caption>
          <tbody>
            {bars.map((bar) => (
              <tr key={bar.key}>
                <th scope="row">{bar.label}</th>
                <td>
                  {formatValue(bar.value)}
                  {bar.note ? ` ${bar.note}` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </figure>
  );
}
