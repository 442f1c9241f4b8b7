import { useState } from 'react';
import {
  type BarShapeProps,
  Bar as RechartsBar,
  BarChart as RechartsBarChart,
  Rectangle,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
  type YAxisTickContentProps,
} from 'recharts';
import { barPlotHeight, textWidth } from '../lib/chart';
import type { Bar } from './BarChart';
import { ChartTooltip } from './ChartTooltip';

interface BarPlotProps {
  readonly title: string;
  readonly bars: readonly Bar[];
  readonly formatValue: (value: number) => string;
}

const TONE_FILL: Record<NonNullable<Bar['tone']>, string> = { bad: 'var(--bad)', warn: 'var(--chart-warn)', neutral: 'var(--chart-1)' };
const BAR_THICKNESS = 12;
/** Below this plot width the notes are left out (they stay in the tooltip and the hidden table). */
const NARROW_WIDTH = 480;
/** Labels are monospace (rule ids, JSON paths): about 7.2 px a character at 12 px. */
const LABEL_CHARACTER_WIDTH = 7.2;

function truncate(text: string, characters: number): string {
  return text.length <= characters ? text : `${text.slice(0, Math.max(1, characters - 1))}…`;
}

function ToneSwatch({ tone }: { readonly tone: Bar['tone'] }) {
  return (
    <svg width="10" height="10" aria-hidden="true" className="chart-swatch">
      <rect width="10" height="10" rx="2" fill={TONE_FILL[tone ?? 'neutral']} />
    </svg>
  );
}

/** The Recharts part of BarChart, loaded on demand. Long labels are cut with an ellipsis and shown in full on hover. */
export function BarPlot({ title, bars, formatValue }: BarPlotProps) {
  const [width, setWidth] = useState(0);
  const narrow = width > 0 && width < NARROW_WIDTH;
  const byKey = new Map(bars.map((bar) => [bar.key, bar]));
  const noteText = (bar: Bar) => (bar.note && !narrow ? ` ${bar.note}` : '');
  const longestLabel = Math.max(...bars.map((bar) => bar.label.length));
  const labelWidth = Math.min(narrow ? 140 : 210, Math.max(48, Math.ceil(longestLabel * LABEL_CHARACTER_WIDTH) + 10));
  const labelCharacters = Math.floor((labelWidth - 10) / LABEL_CHARACTER_WIDTH);
  const valueWidth = Math.max(...bars.map((bar) => textWidth(formatValue(bar.value) + noteText(bar), 6.8))) + 12;

  const labelTick = ({ x, y, payload }: YAxisTickContentProps) => {
    const label = byKey.get(String(payload.value))?.label ?? String(payload.value);
    return (
      <text x={x} y={y} dy="0.35em" textAnchor="end" className="bar-label">
        <title>{label}</title>
        {truncate(label, labelCharacters)}
      </text>
    );
  };
  const valueTick = ({ x, y, payload }: YAxisTickContentProps) => {
    const bar = byKey.get(String(payload.value));
    if (!bar) return <g />;
    return (
      <text x={x} y={y} dy="0.35em" textAnchor="start" className="bar-value">
        {formatValue(bar.value)}
        {noteText(bar) ? <tspan className="bar-note">{noteText(bar)}</tspan> : null}
      </text>
    );
  };

  return (
    <ResponsiveContainer
      className="chart-canvas"
      width="100%"
      height={barPlotHeight(bars.length)}
      minWidth={0}
      onResize={(measured) => setWidth(Math.round(measured))}
    >
      <RechartsBarChart
        layout="vertical"
        data={bars}
        title={title}
        desc={bars.map((bar) => `${bar.label} ${formatValue(bar.value)}`).join(', ')}
        margin={{ top: 4, right: 0, bottom: 4, left: 0 }}
      >
        <XAxis type="number" hide domain={[0, 'dataMax']} />
        {/* Two category axes over the same rows: labels on the left, values (as text) on the right. */}
        <YAxis yAxisId="label" type="category" dataKey="key" width={labelWidth} tick={labelTick} tickLine={false} axisLine={false} />
        <YAxis yAxisId="value" orientation="right" type="category" dataKey="key" width={valueWidth} tick={valueTick} tickLine={false} axisLine={false} />
        <Tooltip
          axisId="label"
          isAnimationActive={false}
          cursor={{ fill: 'var(--bg)' }}
          content={({ active, label }) => {
            const bar = byKey.get(String(label));
            if (!active || !bar) return null;
            return (
              <ChartTooltip
                heading={bar.label}
                rows={[{ key: bar.key, value: formatValue(bar.value), note: bar.note, marker: <ToneSwatch tone={bar.tone} /> }]}
              />
            );
          }}
        />
        <RechartsBar
          yAxisId="label"
          dataKey="value"
          barSize={BAR_THICKNESS}
          radius={BAR_THICKNESS / 2}
          background={{ fill: 'var(--chart-track)', radius: BAR_THICKNESS / 2 }}
          shape={(props: BarShapeProps) => <Rectangle {...props} fill={TONE_FILL[bars[props.index]?.tone ?? 'neutral']} />}
          isAnimationActive={false}
        />
      </RechartsBarChart>
    </ResponsiveContainer>
  );
}
