import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { expect, test, vi } from 'vitest';
import { JobUpload } from '../src/components/JobUpload';
import { job } from './fixtures';
import { mockApi } from './helpers';

/** An XMLHttpRequest the test completes by hand. */
class FakeUploadRequest {
  static last: FakeUploadRequest | null = null;
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: unknown = null;
  status = 0;
  statusText = '';
  responseText = '';
  upload: { onprogress: ((event: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;

  constructor() {
    FakeUploadRequest.last = this;
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string) {
    this.headers[name.toLowerCase()] = value;
  }
  send(body: unknown) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true });
  }
  respond(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload?.();
  }
}

const RULE_SETS = [
  { name: 'customer-orders', latestVersion: 3, versions: [1, 2, 3], updatedAt: 1 },
  { name: 'payments', latestVersion: 1, versions: [1], updatedAt: 1 },
];

function jobProgress(): HTMLElement {
  return screen.getByRole('progressbar', { name: 'Job progress' });
}

test('an upload streams the file with XHR, then follows the job to 100%', async () => {
  vi.stubGlobal('XMLHttpRequest', FakeUploadRequest);
  // While the file is being sent the job is unknown, then has results but no total (polls may
  // repeat any number of times: the test does not race the 5 ms poll interval). Once the upload
  // is answered, the job advances to done.
  let uploaded = false;
  let polls = 0;
  let pollsAfterUpload = 0;
  const whileSending = [
    { status: 404, body: { error: 'job_not_found', message: 'no such job' } },
    { body: job({ total: null, results: 10, valid: 9, invalid: 1, progress: null }) },
  ];
  const afterUpload = [
    { body: job({ results: 40, valid: 35, invalid: 5, progress: 0.4 }) },
    { body: job({ results: 97, valid: 90, invalid: 6, dlq: 1, progress: 0.98 }) },
    { body: job({ results: 99, valid: 92, invalid: 7, dlq: 1, progress: 1 }) },
  ];
  const api = mockApi({
    'GET /api/v1/jobs/job-1': () => {
      polls++;
      if (!uploaded) return whileSending[Math.min(polls - 1, whileSending.length - 1)] ?? {};
      return afterUpload[Math.min(pollsAfterUpload++, afterUpload.length - 1)] ?? {};
    },
  });
  vi.spyOn(crypto, 'randomUUID').mockReturnValue('job-1' as `${string}-${string}-${string}-${string}-${string}`);
  const finished = vi.fn();

  render(<JobUpload ruleSets={RULE_SETS} initialRuleSet="payments" pollIntervalMs={5} onFinished={finished} />);
  expect((screen.getByLabelText('Rule set') as HTMLSelectElement).value).toBe('payments');
  fireEvent.change(screen.getByLabelText('Rule set'), { target: { value: 'customer-orders' } });
  const file = new File(['{"order_id":"ORD-1"}\n{"order_id":"ORD-2"}\n'], 'orders.ndjson');
  fireEvent.change(screen.getByLabelText('Records file'), { target: { files: [file] } });
  fireEvent.click(screen.getByRole('button', { name: 'Upload' }));

  const request = FakeUploadRequest.last;
  if (!request) throw new Error('no upload request');
  expect(request.method).toBe('POST');
  const url = new URL(request.url, 'http://console.test');
  expect(url.pathname).toBe('/api/v1/jobs');
  expect(Object.fromEntries(url.searchParams)).toEqual({ ruleSet: 'customer-orders', jobId: 'job-1', filename: 'orders.ndjson' });
  expect(request.headers['content-type']).toBe('application/x-ndjson');
  expect(request.body).toBe(file);

  act(() => request.progress(21, 42));
  expect(screen.getByRole('progressbar', { name: 'Upload progress' }).getAttribute('aria-valuenow')).toBe('50');
  // Processing is followed while the file is still being sent.
  await waitFor(() => expect(polls).toBeGreaterThanOrEqual(2));
  expect(jobProgress().getAttribute('aria-valuenow')).toBe('0');

  act(() => {
    uploaded = true;
    request.progress(42, 42);
    request.respond(201, job({ total: 100, results: 40, progress: 0.4 }));
  });
  await waitFor(() => expect(jobProgress().getAttribute('aria-valuenow')).toBe('100'), { timeout: 3000 });
  expect(jobProgress().getAttribute('aria-valuetext')).toBe('100 of 100 records done (7 invalid, 1 in the DLQ)');
  expect(screen.getByTestId('upload-done').textContent).toContain('92 valid, 7 invalid, 1 in the dead-letter queue');
  expect(finished).toHaveBeenCalledTimes(1);
  const pollsWhenDone = api.to('GET', '/api/v1/jobs/job-1').length;
  await new Promise((resolve) => setTimeout(resolve, 30));
  expect(api.to('GET', '/api/v1/jobs/job-1').length).toBe(pollsWhenDone);
});

test("a refused upload shows the server's message", async () => {
  vi.stubGlobal('XMLHttpRequest', FakeUploadRequest);
  mockApi({ 'GET /api/v1/jobs/job-2': { status: 404, body: { error: 'job_not_found', message: 'no such job' } } });
  vi.spyOn(crypto, 'randomUUID').mockReturnValue('job-2' as `${string}-${string}-${string}-${string}-${string}`);
  render(<JobUpload ruleSets={RULE_SETS} pollIntervalMs={5} />);
  fireEvent.change(screen.getByLabelText('Records file'), { target: { files: [new File(['a,b\n1,2\n'], 'x.csv')] } });
  fireEvent.click(screen.getByRole('button', { name: 'Upload' }));
  act(() => FakeUploadRequest.last?.respond(404, { error: 'rule_set_not_found', message: 'rule set "customer-orders" does not exist; create it first' }));
  expect((await screen.findByRole('alert')).textContent).toContain('rule set "customer-orders" does not exist; create it first');
  expect(FakeUploadRequest.last?.headers['content-type']).toBe('text/csv');
});
