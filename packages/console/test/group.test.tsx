import { act, render, screen, waitFor, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { App } from '../src/App';
import type { GroupDetail, HistoryPoint } from '../src/api/types';
import { groupSummary, groupsResponse } from './fixtures';
import { fakeEventStream, mockApi } from './helpers';

function point(t: number, lag: number, replicas: number): HistoryPoint {
  return { t, lag, timeLagSeconds: 2, consumeRate: 100, produceRate: 120, currentReplicas: replicas, desiredReplicas: replicas };
}

test('the group page shows partitions and extends the history with live points', async () => {
  const { partitionCount: _count, ...summary } = groupSummary();
  const detail: GroupDetail = {
    ...summary,
    partitions: [
      {
        topic: 'validation.requests',
        partition: 0,
        committedOffset: 100,
        logEndOffset: 350,
        logStartOffset: 0,
        lag: 250,
        timeLagSeconds: 3.5,
        timeLagMode: 'estimate',
        produceRate: 60,
        consumeRate: 50,
        status: 'WARN',
        statusReason: 'lag growing',
        owner: { memberId: 'm-1', clientId: 'worker-1', host: '/127.0.0.1' },
      },
    ],
  };
  const api = mockApi({
    'GET /api/v1/groups': { body: groupsResponse([groupSummary()]) },
    'GET /api/v1/autoscaler': { status: 404, body: { error: 'autoscaler_not_running', message: 'none' } },
    'GET /api/v1/groups/orders-validator': { body: { time: '2026-11-25T10:00:00.000Z', group: detail } },
    'GET /api/v1/history': { body: { points: [point(1_000, 500, 1), point(6_000, 400, 2)] } },
  });
  const stream = fakeEventStream();
  window.location.hash = '#/groups/orders-validator';
  render(<App connect={stream.connect} />);

  const row = await screen.findByTestId('partition-row-validation.requests-0');
  expect(within(row).getByTestId('partition-lag').textContent).toBe('250');
  expect(row.textContent).toContain('worker-1');
  expect(row.textContent).toContain('WARN');
  expect(api.to('GET', '/api/v1/history')[0]?.query.get('group')).toBe('orders-validator');
  await waitFor(() => expect(screen.getByTestId('lag-chart').textContent).toContain('Lag: 400'));

  act(() => {
    stream.emit('point', { group: 'other-group', point: point(11_000, 9, 9) });
    stream.emit('point', { group: 'orders-validator', point: point(11_000, 123, 3) });
  });
  expect(screen.getByTestId('lag-chart').textContent).toContain('Lag: 123');
  expect(screen.getByTestId('replicas-chart').textContent).toContain('Current: 3');

  // A new collection reloads the partitions.
  const before = api.to('GET', '/api/v1/groups/orders-validator').length;
  act(() => stream.emit('groups', groupsResponse([groupSummary()], '2026-11-25T10:00:05.000Z')));
  await waitFor(() => expect(api.to('GET', '/api/v1/groups/orders-validator').length).toBe(before + 1));
  // ...and keeps the live points gathered so far.
  expect(screen.getByTestId('lag-chart').textContent).toContain('Lag: 123');
});
