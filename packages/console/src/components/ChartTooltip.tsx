import type { ReactNode } from 'react';

export interface ChartTooltipRow {
  readonly key: string;
  /** Left out when the heading says what the value is. */
  readonly label?: string;
  readonly value: string;
  readonly note?: string;
  /** Drawn before the label: the series' line, the bar's colour. */
  readonly marker?: ReactNode;
}

/** The box shown when hovering or stepping through a chart with the arrow keys; the same look for every chart. */
export function ChartTooltip({ heading, rows }: { readonly heading: string; readonly rows: readonly ChartTooltipRow[] }) {
  return (
    <div className="chart-tooltip">
      <p className="chart-tooltip-heading">{heading}</p>
      <ul>
        {rows.map((row) => (
          <li key={row.key}>
            {row.marker}
            {row.label ? `${row.label}: ` : null}
            <strong>{row.value}</strong>
            {row.note ? <span className="chart-tooltip-note"> {row.note}</span> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
