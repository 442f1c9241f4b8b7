import { act, render, screen, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { App } from '../src/App';
import { autoscalerState, groupSummary, groupsResponse } from './fixtures';
import { fakeEventStream, mockApi } from './helpers';

test('the overview shows one row per group from the events and follows later events', async () => {
  mockApi({
    'GET /api/v1/groups': { status: 503, body: { error: 'not_ready', message: 'no lag collection has completed yet; retry in a few seconds' } },
    'GET /api/v1/autoscaler': { status: 404, body: { error: 'autoscaler_not_running', message: 'no autoscaler' } },
  });
  const stream = fakeEventStream();
  render(<App connect={stream.connect} />);
  expect((await screen.findByRole('alert')).textContent).toContain('no lag collection has completed yet');

  act(() => {
    stream.emit(
      'groups',
      groupsResponse([groupSummary(), groupSummary({ group: 'billing', lag: 7, lagComplete: false, status: 'STALL', timeLagSeconds: null })]),
    );
    stream.emit('autoscaler', autoscalerState({ currentReplicas: 2, desiredReplicas: 3 }));
  });

  const orders = screen.getByTestId('group-row-orders-validator');
  expect(within(orders).getByTestId('lag').textContent).toContain('1,200');
  expect(within(orders).getByTestId('time-lag').textContent).toContain('4.2 s');
  expect(within(orders).getByTestId('consume-rate').textContent).toContain('310/s');
  expect(within(orders).getByTestId('replicas').textContent).toContain('2');
  expect(within(orders).getByTestId('desired-replicas').textContent).toContain('3');
  expect(within(orders).getByRole('link', { name: 'orders-validator' }).getAttribute('href')).toBe('#/groups/orders-validator');

  const billing = screen.getByTestId('group-row-billing');
  expect(within(billing).getByTestId('lag').textContent).toContain('≥ 7');
  expect(within(billing).getByTestId('status').textContent).toContain('STALL');
  // Only the autoscaled group has replicas.
  expect(within(billing).getByTestId('replicas').textContent).toContain('—');
  expect(screen.queryByRole('alert')).toBeNull();

  act(() => {
    stream.emit('groups', groupsResponse([groupSummary({ lag: 80 })], '2026-11-25T10:00:05.000Z'));
    stream.emit('autoscaler', autoscalerState({ currentReplicas: 3, desiredReplicas: 3 }));
  });
  expect(within(screen.getByTestId('group-row-orders-validator')).getByTestId('lag').textContent).toContain('80');
  expect(within(screen.getByTestId('group-row-orders-validator')).getByTestId('replicas').textContent).toContain('3');
  expect(screen.queryByTestId('group-row-billing')).toBeNull();
  expect(screen.getByTestId('connection').textContent).toContain('Live');
});

test('the overview says so when no group is watched', async () => {
  mockApi({
    'GET /api/v1/groups': { body: groupsResponse([]) },
    'GET /api/v1/autoscaler': { status: 404, body: { error: 'autoscaler_not_running', message: 'no autoscaler' } },
  });
  render(<App connect={fakeEventStream().connect} />);
  expect(await screen.findByText('No consumer groups yet')).toBeTruthy();
});

test('the overview lists share groups beside the consumer groups, an upper-bound lag marked as such', async () => {
  mockApi({
    'GET /api/v1/groups': {
      body: {
        ...groupsResponse([groupSummary()]),
        shareGroups: [
          {
            group: 'validation-queue',
            state: 'Stable',
            members: 24,
            status: 'OK',
            statusReason: 'all partitions OK',
            lag: 5400,
            lagExact: true,
            timeLagSeconds: 2.5,
            produceRate: 900,
            acknowledgeRate: 1200,
            topics: ['validation.requests'],
            partitionCount: 8,
          },
          {
            group: 'old-broker-queue',
            state: 'Empty',
            members: 0,
            status: 'STOP',
            statusReason: 'no acknowledgements for 50s',
            lag: 300,
            lagExact: false,
            timeLagSeconds: null,
            produceRate: null,
            acknowledgeRate: null,
            topics: ['t'],
            partitionCount: 2,
          },
        ],
      },
    },
    'GET /api/v1/autoscaler': { status: 404, body: { error: 'autoscaler_not_running', message: 'no autoscaler' } },
  });
  render(<App connect={fakeEventStream().connect} />);
  const queue = await screen.findByTestId('share-group-row-validation-queue');
  expect(within(queue).getByTestId('lag').textContent).toBe('5,400');
  // 24 members on 8 partitions: share groups are not capped by the partition count.
  expect(within(queue).getByTestId('members').textContent).toBe('24');
  expect(within(queue).getByTestId('acknowledge-rate').textContent).toContain('1,200/s');
  const old = screen.getByTestId('share-group-row-old-broker-queue');
  expect(within(old).getByTestId('lag').textContent).toBe('≤ 300');
  expect(within(old).getByTestId('status').textContent).toContain('STOP');
  // The consumer groups' table is still there, and does not list the queues.
  expect(screen.getByTestId('group-row-orders-validator')).toBeTruthy();
  expect(within(screen.getByTestId('groups-table')).queryByText('validation-queue')).toBeNull();
});

test('a share group has a page of its own: its share-partitions, an upper bound marked', async () => {
  const partition = (overrides: Record<string, unknown>) => ({
    topic: 'validation.requests',
    partition: 0,
    startOffset: 1000,
    logEndOffset: 1500,
    lag: 420,
    lagMode: 'exact',
    timeLagSeconds: 3.5,
    timeLagMode: 'estimate',
    produceRate: 50,
    acknowledgeRate: 60,
    status: 'OK',
    statusReason: 'consumer is keeping up',
    ...overrides,
  });
  mockApi({
    'GET /api/v1/groups': { body: groupsResponse([]) },
    'GET /api/v1/autoscaler': { status: 404, body: { error: 'autoscaler_not_running', message: 'no autoscaler' } },
    'GET /api/v1/sharegroups/validation-queue': {
      body: {
        time: '2026-11-25T10:00:00.000Z',
        group: {
          group: 'validation-queue',
          state: 'Stable',
          members: 12,
          status: 'OK',
          statusReason: 'all partitions OK',
          lag: 470,
          lagExact: false,
          timeLagSeconds: 3.5,
          produceRate: 50,
          acknowledgeRate: 60,
          topics: ['validation.requests'],
          partitions: [partition({}), partition({ partition: 1, startOffset: 90, logEndOffset: 140, lag: 50, lagMode: 'upper_bound' })],
        },
      },
    },
  });
  window.location.hash = '#/sharegroups/validation-queue';
  render(<App connect={fakeEventStream().connect} />);
  expect((await screen.findByTestId('share-group-lag')).textContent).toBe('≤ 470');
  const first = screen.getByTestId('share-partition-row-validation.requests-0');
  expect(within(first).getByTestId('partition-lag').textContent).toBe('420');
  expect(within(first).getByTestId('start-offset').textContent).toBe('1,000');
  const second = screen.getByTestId('share-partition-row-validation.requests-1');
  expect(within(second).getByTestId('partition-lag').textContent).toBe('≤ 50');
  window.location.hash = '';
});
