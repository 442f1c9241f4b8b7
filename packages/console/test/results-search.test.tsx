import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { useState } from 'react';
import { expect, test } from 'vitest';
import { EMPTY_RESULT_FILTERS, type ResultFilters } from '../src/api/query';
import type { ValidationResult } from '../src/api/types';
import { ResultsSearch } from '../src/components/ResultsSearch';
import { ResultPage } from '../src/pages/ResultPage';
import { mockApi } from './helpers';

function result(recordNumber: number, valid: boolean): ValidationResult {
  return {
    jobId: 'job-1',
    recordNumber,
    valid,
    violations: valid ? [] : [{ ruleId: 'total.adds-up', severity: 'error', path: '/total', message: 'total must equal subtotal - discount + shipping + tax' }],
    truncated: false,
    recordOmitted: false,
  };
}

/** The search keeps its filters in the parent (the job page); this stands in for it. */
function Harness() {
  const [filters, setFilters] = useState<ResultFilters>(EMPTY_RESULT_FILTERS);
  return <ResultsSearch jobId="job-1" filters={filters} onFiltersChange={setFilters} ruleIds={['total.adds-up']} fieldPaths={['/total']} />;
}

test('filters build the query, and pages follow the cursor', async () => {
  const api = mockApi({
    'GET /api/v1/jobs/job-1/results': (request) => {
      const cursor = request.query.get('cursor');
      if (cursor === 'page-2') return { body: { items: [result(51, false)], nextCursor: null } };
      return {
        body: {
          items: [result(1, true), result(2, false)],
          nextCursor: 'page-2',
          facets: { records: 51, byRule: [{ ruleId: 'total.adds-up', severity: 'error', records: 30, violations: 30 }], bySeverity: [] },
        },
      };
    },
  });
  render(<Harness />);
  await screen.findByTestId('result-row-2');
  expect(screen.getByTestId('results-count').textContent).toContain('51 matching records');
  expect(Object.fromEntries(api.requests[0]?.query ?? [])).toEqual({ limit: '50', facets: 'true' });

  const search = screen.getByRole('search', { name: 'Filter results' });
  fireEvent.change(within(search).getByLabelText('Records'), { target: { value: 'invalid' } });
  fireEvent.change(within(search).getByLabelText('Rule id'), { target: { value: 'total.adds-up' } });
  fireEvent.change(within(search).getByLabelText('Severity'), { target: { value: 'error' } });
  fireEvent.change(within(search).getByLabelText('Field path'), { target: { value: 'total' } });
  fireEvent.change(within(search).getByLabelText('Message text'), { target: { value: 'subtotal' } });
  fireEvent.click(within(search).getByRole('button', { name: 'Search' }));
  await waitFor(() => expect(api.requests.length).toBe(2));
  expect(Object.fromEntries(api.requests[1]?.query ?? [])).toEqual({
    valid: 'false',
    ruleId: 'total.adds-up',
    severity: 'error',
    field: '/total',
    text: 'subtotal',
    limit: '50',
    facets: 'true',
  });

  await screen.findByTestId('result-row-2');
  fireEvent.click(screen.getByRole('button', { name: 'Next page' }));
  await screen.findByTestId('result-row-51');
  expect(api.requests[2]?.query.get('cursor')).toBe('page-2');
  expect(api.requests[2]?.query.get('facets')).toBe('false');
  expect(api.requests[2]?.query.get('ruleId')).toBe('total.adds-up');
  // The counts of the first page stay while paging.
  expect(screen.getByTestId('results-count').textContent).toContain('51 matching records');
  expect((screen.getByRole('button', { name: 'Next page' }) as HTMLButtonElement).disabled).toBe(true);

  fireEvent.click(screen.getByRole('button', { name: 'Previous page' }));
  await screen.findByTestId('result-row-1');
  expect(api.requests.at(-1)?.query.get('cursor')).toBeNull();
  expect(screen.getByRole('link', { name: 'Open record 2' }).getAttribute('href')).toBe('#/jobs/job-1/results/2');
});

test('one result shows its record and violations', async () => {
  mockApi({ 'GET /api/v1/jobs/job-1/results/2': { body: { ...result(2, false), record: '{"order_id":"ORD-1","total":12}' } } });
  render(<ResultPage jobId="job-1" recordNumber={2} />);
  expect((await screen.findByTestId('record-json')).textContent).toBe('{\n  "order_id": "ORD-1",\n  "total": 12\n}');
  expect(screen.getByTestId('result-validity').textContent).toBe('invalid');
  expect(within(screen.getByTestId('violations-table')).getByText('total must equal subtotal - discount + shipping + tax')).toBeTruthy();
});
