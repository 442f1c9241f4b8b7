import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { expect, test } from 'vitest';
import { App } from '../src/App';
import { groupSummary, groupsResponse } from './fixtures';
import { fakeEventStream, mockApi } from './helpers';

test('a 401 asks for a token, which is stored and sent as a bearer token', async () => {
  const api = mockApi({
    'GET /api/v1/groups': (request) =>
      request.headers.get('authorization') === 'Bearer s3cret'
        ? { body: groupsResponse([groupSummary()]) }
        : { status: 401, body: { error: 'unauthorized', message: 'missing or unknown token' } },
    'GET /api/v1/autoscaler': { status: 404, body: { error: 'autoscaler_not_running', message: 'none' } },
  });
  render(<App connect={fakeEventStream().connect} />);
  const dialog = await screen.findByRole('dialog', { name: 'API token needed' });
  expect(dialog.textContent).toContain('missing or unknown token');
  fireEvent.change(screen.getByLabelText('API token'), { target: { value: ' s3cret ' } });
  fireEvent.click(screen.getByRole('button', { name: 'Save token' }));

  await screen.findByTestId('group-row-orders-validator');
  expect(screen.queryByRole('dialog')).toBeNull();
  expect(window.localStorage.getItem('lagscale.apiToken')).toBe('s3cret');
  await waitFor(() => expect(api.to('GET', '/api/v1/autoscaler').at(-1)?.headers.get('authorization')).toBe('Bearer s3cret'));
});
