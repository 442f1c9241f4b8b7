import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import type { DlqEntry } from '../src/api/types';
import { DlqPage } from '../src/pages/DlqPage';
import { mockApi } from './helpers';

const ENTRY: DlqEntry = {
  id: 'd1',
  jobId: 'job-1',
  recordNumber: 7,
  topic: 'validation.requests',
  partition: 0,
  offset: 41,
  reason: "invalid JSON at byte 17: expected ',' or '}'",
  code: 'invalid_json',
  payloadBase64: 'eyJvcmRlcl9pZCI6ICJPUkQtMSIgInRvdGFsIjogMX0=',
  payloadText: '{"order_id": "ORD-1" "total": 1}',
  payloadSize: 33,
  payloadTruncated: false,
  createdAt: 1,
  replayedAt: null,
};

test('a dead letter is replayed with the corrected value, or as it is', async () => {
  const api = mockApi({
    'GET /api/v1/dlq': { body: { items: [ENTRY, { ...ENTRY, id: 'd2', jobId: null, recordNumber: null }], nextCursor: null } },
    'POST /api/v1/dlq/d1/replay': { status: 202, body: { id: 'd1', replayedAt: Date.parse('2026-11-25T10:00:00Z') } },
  });
  render(<DlqPage jobId="job-1" />);
  const card = await screen.findByTestId('dlq-entry-d1');
  expect(api.requests[0]?.query.get('jobId')).toBe('job-1');
  expect(within(screen.getByTestId('dlq-entry-d2')).queryByRole('button', { name: 'Replay…' })).toBeNull();

  fireEvent.click(within(card).getByRole('button', { name: 'Replay…' }));
  const corrected = within(card).getByLabelText('Corrected value (JSON record)');
  expect((corrected as HTMLTextAreaElement).value).toBe(ENTRY.payloadText);

  // Still broken: the console says where, and sends nothing.
  fireEvent.click(within(card).getByRole('button', { name: 'Replay corrected value' }));
  expect(within(card).getByText(/must be JSON; line 1/)).toBeTruthy();
  expect(api.to('POST', '/api/v1/dlq/d1/replay')).toEqual([]);

  fireEvent.change(corrected, { target: { value: '{"order_id": "ORD-1", "total": 1}' } });
  fireEvent.click(within(card).getByRole('button', { name: 'Replay corrected value' }));
  await waitFor(() => expect(within(card).getByTestId('replayed')).toBeTruthy());
  expect(api.to('POST', '/api/v1/dlq/d1/replay')[0]?.body).toEqual({ value: { order_id: 'ORD-1', total: 1 } });

  fireEvent.click(within(card).getByRole('button', { name: 'Replay…' }));
  fireEvent.click(within(card).getByRole('button', { name: 'Replay as is' }));
  await waitFor(() => expect(api.to('POST', '/api/v1/dlq/d1/replay').length).toBe(2));
  expect(api.to('POST', '/api/v1/dlq/d1/replay')[1]?.body).toEqual({});
});

test('a refused replay shows the server message', async () => {
  mockApi({
    'GET /api/v1/dlq': { body: { items: [ENTRY], nextCursor: null } },
    'POST /api/v1/dlq/d1/replay': { status: 403, body: { error: 'forbidden', message: 'replaying needs the write scope' } },
  });
  render(<DlqPage jobId={null} />);
  const card = await screen.findByTestId('dlq-entry-d1');
  fireEvent.click(within(card).getByRole('button', { name: 'Replay…' }));
  fireEvent.click(within(card).getByRole('button', { name: 'Replay as is' }));
  expect((await within(card).findByRole('alert')).textContent).toContain('replaying needs the write scope');
});

test('an empty queue says so', async () => {
  mockApi({ 'GET /api/v1/dlq': { body: { items: [], nextCursor: null } } });
  render(<DlqPage jobId={null} />);
  expect(await screen.findByText('The dead-letter queue is empty')).toBeTruthy();
});
