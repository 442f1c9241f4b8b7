/** Dash pattern of a dashed series, the same on the plot, in the legend and in the tooltip. */
export const SERIES_DASH = '6 4';

/** A short sample of a series' line (colour and dashes), for legends and tooltips. */
export function LineSwatch({ color, dashed = false }: { readonly color: string; readonly dashed?: boolean }) {
  return (
    <svg width="22" height="10" aria-hidden="true" className="chart-swatch">
      <line x1="0" x2="22" y1="5" y2="5" stroke={color} strokeWidth="2" strokeDasharray={dashed ? SERIES_DASH : undefined} />
    </svg>
  );
}
