import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { BarChart } from '../src/components/BarChart';
import { LineChart } from '../src/components/LineChart';
import { formatClock, formatCount } from '../src/lib/format';
import { linePoints } from './helpers';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');

test('the bar chart draws one bar per rule, as long as its count, and lists every rule with its numbers', async () => {
  render(
    <BarChart
      title="Violations by rule"
      testId="rules"
      formatValue={formatCount}
      bars={[
        { key: 'order-id', label: 'order-id', value: 1200, note: 'in 800 records', tone: 'bad' },
        { key: 'amount-range', label: 'amount-range', value: 600, note: 'in 600 records', tone: 'warn' },
        { key: 'currency-code-must-be-iso-4217-and-uppercase', label: 'currency-code-must-be-iso-4217-and-uppercase', value: 300 },
      ]}
    />,
  );
  const chart = screen.getByTestId('rules');
  // The plot loads with Recharts, after the frame.
  await waitFor(() => expect(chart.querySelectorAll('.recharts-bar-rectangle path').length).toBe(3));
  const bars = [...chart.querySelectorAll('.recharts-bar-rectangle path')];
  expect(bars.map((bar) => bar.getAttribute('fill'))).toEqual(['var(--bad)', 'var(--chart-warn)', 'var(--chart-1)']);
  const [longest, half, quarter] = bars.map((bar) => Number(bar.getAttribute('width')));
  expect(half).toBeCloseTo((longest ?? 0) / 2, 0);
  expect(quarter).toBeCloseTo((longest ?? 0) / 4, 0);

  // On the plot: labels (a long one cut, in full on hover), counts and notes.
  const labels = [...chart.querySelectorAll('.bar-label')];
  expect(labels.map((label) => label.querySelector('title')?.textContent)).toEqual([
    'order-id',
    'amount-range',
    'currency-code-must-be-iso-4217-and-uppercase',
  ]);
  expect(labels[2]?.lastChild?.textContent).toMatch(/^currency-code-.*…$/);
  expect([...chart.querySelectorAll('.bar-value')].map((value) => value.textContent)).toEqual(['1,200 in 800 records', '600 in 600 records', '300']);

  // Keyboard: focusing the plot shows the first bar's numbers; the arrows step through the bars
  // (Recharts steps down a vertical layout with the left arrow).
  const plot = chart.querySelector('svg.recharts-surface');
  if (!(plot instanceof SVGElement)) throw new Error('the chart drew no plot');
  act(() => plot.focus());
  expect(chart.querySelector('.chart-tooltip')?.textContent).toBe('order-id1,200 in 800 records');
  fireEvent.keyDown(plot, { key: 'ArrowLeft' });
  expect(chart.querySelector('.chart-tooltip')?.textContent).toBe('amount-range600 in 600 records');

  // For screen readers: a table with the same rows.
  const table = within(chart).getByRole('table', { name: 'Violations by rule' });
  expect(
    within(table)
      .getAllByRole('row')
      .map((row) => row.textContent),
  ).toEqual(['order-id1,200 in 800 records', 'amount-range600 in 600 records', 'currency-code-must-be-iso-4217-and-uppercase300']);
});

test('the line chart leaves a gap for a missing value, and its tooltip gives the clock time and every value', async () => {
  const times = [T0, T0 + 5000, T0 + 10_000, T0 + 15_000];
  render(
    <LineChart
      title="Rates (records/s)"
      testId="rates"
      times={times}
      series={[
        { key: 'produce', label: 'Produce', color: 'var(--chart-3)', dashed: true, values: [120, 130, 125, 140] },
        { key: 'consume', label: 'Consume', color: 'var(--chart-2)', values: [100, null, 110, 115] },
      ]}
    />,
  );
  const chart = screen.getByTestId('rates');
  await waitFor(() => expect(linePoints(chart, 'produce').length).toBe(4));
  const produce = linePoints(chart, 'produce');
  const consume = linePoints(chart, 'consume');
  // Three points drawn, and the path starts over (a new M) after the missing one.
  expect(consume.length).toBe(3);
  expect(chart.querySelector('.chart-line-consume path')?.getAttribute('d')?.match(/M/g)?.length).toBe(2);
  expect(consume.map(([x]) => x)).toEqual([produce[0]?.[0], produce[2]?.[0], produce[3]?.[0]]);
  // Higher values are drawn higher up, on an axis that ends at the first round value above the data.
  expect(produce[3]?.[1]).toBeLessThan(produce[0]?.[1] ?? 0);
  expect([...chart.querySelectorAll('.recharts-yAxis-tick-labels text')].map((tick) => tick.textContent)).toEqual(['0', '50', '100', '150']);

  // The time axis reads like the rest of the console.
  const ticks = [...chart.querySelectorAll('.recharts-xAxis-tick-labels text')].map((tick) => tick.textContent ?? '');
  expect(ticks.length).toBeGreaterThan(1);
  for (const tick of ticks) expect(tick).toMatch(/^\d\d:\d\d:\d\d$/);

  // Keyboard: focus the plot, step to the second time.
  const plot = chart.querySelector('svg.recharts-surface');
  if (!(plot instanceof SVGElement)) throw new Error('the chart drew no plot');
  act(() => plot.focus());
  fireEvent.keyDown(plot, { key: 'ArrowRight' });
  const tooltip = chart.querySelector('.chart-tooltip');
  expect(tooltip?.textContent).toBe(`${formatClock(T0 + 5000)}Produce: 130Consume: —`);

  expect(within(chart).getByRole('row', { name: /Consume/ }).textContent).toBe('Consume115100115');
  expect(chart.textContent).toContain('Produce: 140');
});

test('without points a chart says so instead of drawing empty axes', () => {
  render(<LineChart title="Lag (records)" testId="lag" times={[]} series={[{ key: 'lag', label: 'Lag', color: 'var(--chart-1)', values: [] }]} />);
  const chart = screen.getByTestId('lag');
  expect(chart.textContent).toContain('No data yet');
  expect(chart.querySelector('svg')).toBeNull();
  render(<BarChart title="Violations by field" testId="fields" bars={[]} />);
  expect(screen.getByTestId('fields').textContent).toContain('Nothing to show.');
});
