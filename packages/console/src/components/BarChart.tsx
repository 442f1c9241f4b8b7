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

/** Horizontal bars as a list: readable at any width, every number is text. */
export function BarChart({ title, bars, formatValue = String, testId }: BarChartProps) {
  const max = Math.max(1, ...bars.map((bar) => bar.value));
  return (
    <figure className="chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      {bars.length === 0 ? (
        <p className="chart-empty">Nothing to show.</p>
      ) : (
        <ul className="bars">
          {bars.map((bar) => (
            <li key={bar.key}>
              <span className="bar-label" title={bar.label}>
                {bar.label}
              </span>
              <span className="bar-track" aria-hidden="true">
                <span className={`bar-fill bar-${bar.tone ?? 'neutral'}`} style={{ width: `${(bar.value / max) * 100}%` }} />
              </span>
              <span className="bar-value">
                {formatValue(bar.value)}
                {bar.note ? <span className="bar-note"> {bar.note}</span> : null}
              </span>
            </li>
          ))}
        </ul>
      )}
    </figure>
  );
}
