import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { App } from '../src/App';
import { autoscalerState, decision, groupsResponse } from './fixtures';
import { fakeEventStream, linePoints, mockApi } from './helpers';

const T0 = Date.parse('2026-11-25T10:00:00.000Z');

test('the autoscaler page shows the decisions with their arithmetic, the policy, and pauses', async () => {
  const api = mockApi({
    'GET /api/v1/groups': { body: groupsResponse([]) },
    'GET /api/v1/autoscaler': { body: autoscalerState() },
    'GET /api/v1/autoscaler/decisions': {
      body: {
        decisions: [
          decision({ time: T0 + 5000, action: 'none', currentReplicas: 4, desiredReplicas: 4, reason: 'within tolerance', adjustments: [] }),
          decision({ time: T0 }),
        ],
      },
    },
    'POST /api/v1/autoscaler/pause': { body: { paused: true } },
    'POST /api/v1/autoscaler/resume': { status: 403, body: { error: 'forbidden', message: 'resuming needs the admin scope' } },
  });
  const stream = fakeEventStream();
  window.location.hash = '#/autoscaler';
  render(<App connect={stream.connect} />);

  const table = await screen.findByTestId('decisions-table');
  await waitFor(() => expect(within(table).getAllByTestId('decision-row').length).toBe(2));
  const [newest, oldest] = within(table).getAllByTestId('decision-row');
  expect(newest?.textContent).toContain('within tolerance');
  expect(oldest?.textContent).toContain('2 → 4');
  expect(oldest?.textContent).toContain('lag 1234 is above the target 300 per replica');
  expect(oldest?.textContent).toContain('ceil(1234 / 300)');
  expect(oldest?.textContent).toContain('scaleUp policy Pods 2 per 60s: 5 -> 4');
  expect(api.to('GET', '/api/v1/autoscaler/decisions')[0]?.query.get('limit')).toBe('200');
  expect(screen.getByTestId('policy-name').textContent).toBe('lag');
  expect(screen.getByText('1 to 6')).toBeTruthy();
  expect(screen.getByTestId('current-replicas').textContent).toBe('2');

  // The chart draws both series from the decisions: 2 → 4 current under a flat desired 4, as steps.
  const chart = screen.getByTestId('autoscaler-replicas-chart');
  await waitFor(() => expect(linePoints(chart, 'current').length).toBe(3));
  const current = linePoints(chart, 'current');
  const desired = linePoints(chart, 'desired');
  expect(desired.length).toBe(3);
  expect(current[0]?.[1]).toBeGreaterThan(desired[0]?.[1] ?? 0);
  expect(current.at(-1)).toEqual(desired.at(-1));
  expect(chart.querySelector('.chart-line-desired path')?.getAttribute('stroke-dasharray')).toBe('6 4');
  expect(chart.textContent).toContain('Current: 4');
  expect(chart.textContent).toContain('Desired: 4');

  // A live decision arrives: the numbers and the log follow it.
  act(() =>
    stream.emit(
      'autoscaler',
      autoscalerState({
        currentReplicas: 4,
        desiredReplicas: 5,
        lastDecision: decision({ time: T0 + 10_000, desiredReplicas: 5, currentReplicas: 4, reason: 'lag keeps growing' }),
      }),
    ),
  );
  expect(screen.getByTestId('current-replicas').textContent).toBe('4');
  // ...and so does the chart: one more step, desired now above current.
  await waitFor(() => expect(linePoints(chart, 'desired').length).toBe(5));
  const [currentEnd, desiredEnd] = [linePoints(chart, 'current').at(-1), linePoints(chart, 'desired').at(-1)];
  expect(desiredEnd?.[0]).toBe(currentEnd?.[0]);
  expect(desiredEnd?.[1]).toBeLessThan(currentEnd?.[1] ?? 0);
  expect(within(chart).getByRole('row', { name: /Desired/ }).textContent).toBe('Desired545');
  await waitFor(() => expect(within(table).getAllByTestId('decision-row')[0]?.textContent).toContain('lag keeps growing'));

  fireEvent.click(screen.getByRole('button', { name: 'Pause' }));
  await waitFor(() => expect(screen.getByTestId('autoscaler-state').textContent).toBe('paused'));
  expect(api.to('POST', '/api/v1/autoscaler/pause').length).toBe(1);

  fireEvent.click(screen.getByRole('button', { name: 'Resume' }));
  expect((await screen.findByRole('alert')).textContent).toContain('resuming needs the admin scope');
  expect(screen.getByTestId('autoscaler-state').textContent).toBe('paused');
});

test('without an autoscaler the page says how to start one', async () => {
  mockApi({
    'GET /api/v1/groups': { body: groupsResponse([]) },
    'GET /api/v1/autoscaler': { status: 404, body: { error: 'autoscaler_not_running', message: 'this server runs no autoscaler' } },
    'GET /api/v1/autoscaler/decisions': { status: 404, body: { error: 'autoscaler_not_running', message: 'this server runs no autoscaler' } },
  });
  window.location.hash = '#/autoscaler';
  render(<App connect={fakeEventStream().connect} />);
  expect(await screen.findByText('No autoscaler runs in this server')).toBeTruthy();
});

test('an idle hour of unchanged decisions is one row with its count and span; the log is paged', async () => {
  const quiet = Array.from({ length: 720 }, (_, i) =>
    decision({ time: T0 + i * 5000, action: 'none', currentReplicas: 3, desiredReplicas: 3, reason: 'within tolerance', adjustments: [] }),
  );
  // Thirty scale decisions after the idle hour (newer): each stays a row of its own.
  const scales = Array.from({ length: 30 }, (_, i) =>
    decision({
      time: T0 + 3_600_000 + (i + 1) * 60_000,
      action: i % 2 === 0 ? 'scale_up' : 'scale_down',
      currentReplicas: 3,
      desiredReplicas: i % 2 === 0 ? 4 : 3,
    }),
  );
  mockApi({
    'GET /api/v1/groups': { body: groupsResponse([]) },
    'GET /api/v1/autoscaler': { body: autoscalerState() },
    'GET /api/v1/autoscaler/decisions': { body: { decisions: [...quiet, ...scales] } },
  });
  const stream = fakeEventStream();
  window.location.hash = '#/autoscaler';
  render(<App connect={stream.connect} />);
  const table = await screen.findByTestId('decisions-table');
  // The newest 200 decisions: 30 scales and 170 quiet ones, 31 rows; 25 a page.
  await waitFor(() => expect(within(table).getAllByTestId('decision-row').length).toBe(25));
  expect(screen.getByTestId('decision-page').textContent).toBe('page 1 of 2');
  expect(within(table).queryByTestId('decision-run-row')).toBeNull();
  fireEvent.click(screen.getByRole('button', { name: 'Older' }));
  await waitFor(() => expect(within(table).getByTestId('decision-run-row').textContent).toContain('170 unchanged'));
  expect(within(table).getAllByTestId('decision-row').length).toBe(5);
  expect(screen.getByTestId('decision-page').textContent).toBe('page 2 of 2');
});
