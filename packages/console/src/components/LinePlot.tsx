import { CartesianGrid, Line, LineChart as RechartsLineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { clockTicks, valueTicks } from '../lib/chart';
import { formatClock } from '../lib/format';
import { LineSwatch, SERIES_DASH } from './ChartSwatch';
import { ChartTooltip } from './ChartTooltip';
import type { ChartSeries } from './LineChart';

interface LinePlotProps {
  readonly title: string;
  /** The numbers in a sentence, for the plot's own accessible description. */
  readonly description: string;
  readonly times: readonly number[];
  readonly series: readonly ChartSeries[];
  /** Formats a value for the tooltip; null is a gap. */
  readonly formatValue: (value: number | null) => string;
  readonly formatTick: (value: number) => string;
  readonly integerTicks: boolean;
  readonly height: number;
}

/** One row per time; `values` in the order of the series. */
interface TimeRow {
  readonly t: number;
  readonly values: readonly (number | null)[];
}

const AXIS_TICK = { fontSize: 11, fill: 'var(--muted)' };
/** A lone point has no range to spread over: show a minute around it. */
const LONE_POINT_PADDING_MS = 30_000;

/** The Recharts part of LineChart, loaded on demand. */
export function LinePlot({ title, description, times, series, formatValue, formatTick, integerTicks, height }: LinePlotProps) {
  const first = times[0] ?? 0;
  const last = times[times.length - 1] ?? first;
  const start = first === last ? first - LONE_POINT_PADDING_MS : first;
  const end = first === last ? last + LONE_POINT_PADDING_MS : last;
  const highest = Math.max(0, ...series.flatMap((line) => line.values.filter((value): value is number => value !== null && Number.isFinite(value))));
  const yTicks = valueTicks(highest, 4, integerTicks);
  const rows: TimeRow[] = times.map((t, index) => ({ t, values: series.map((line) => line.values[index] ?? null) }));

  return (
    <ResponsiveContainer className="chart-canvas" width="100%" height={height} minWidth={0}>
      <RechartsLineChart data={rows} title={title} desc={description} margin={{ top: 10, right: 18, bottom: 0, left: 0 }}>
        <CartesianGrid vertical={false} stroke="var(--chart-grid)" />
        <XAxis
          dataKey="t"
          type="number"
          scale="time"
          domain={[start, end]}
          ticks={clockTicks(start, end)}
          interval="equidistantPreserveStart"
          minTickGap={16}
          tickFormatter={formatClock}
          tick={AXIS_TICK}
          tickLine={false}
          stroke="var(--border)"
        />
        <YAxis
          width="auto"
          type="number"
          domain={[0, yTicks.at(-1) ?? 1]}
          ticks={yTicks}
          tickFormatter={formatTick}
          tick={AXIS_TICK}
          tickLine={false}
          axisLine={false}
        />
        <Tooltip
          isAnimationActive={false}
          cursor={{ stroke: 'var(--muted)', strokeDasharray: '3 3' }}
          content={({ active, label }) => {
            const index = times.indexOf(Number(label));
            if (!active || index < 0) return null;
            return (
              <ChartTooltip
                heading={formatClock(Number(label))}
                rows={series.map((line) => ({
                  key: line.key,
                  label: line.label,
                  value: formatValue(line.values[index] ?? null),
                  marker: <LineSwatch color={line.color} dashed={line.dashed} />,
                }))}
              />
            );
          }}
        />
        {series.map((line, seriesIndex) => (
          <Line
            key={line.key}
            name={line.label}
            dataKey={(row: TimeRow) => row.values[seriesIndex] ?? null}
            type={line.step ? 'stepAfter' : 'linear'}
            stroke={line.color}
            strokeWidth={2}
            strokeDasharray={line.dashed ? SERIES_DASH : undefined}
            // A lone point makes no line: show it as a dot.
            dot={times.length === 1}
            // Live data moves every few seconds; redrawing each time would only distract.
            isAnimationActive={false}
            className={`chart-line chart-line-${line.key}`}
          />
        ))}
      </RechartsLineChart>
    </ResponsiveContainer>
  );
}
