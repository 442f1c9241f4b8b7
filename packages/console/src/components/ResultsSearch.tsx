import { type FormEvent, useEffect, useId, useState } from 'react';
import { api } from '../api/endpoints';
import { EMPTY_RESULT_FILTERS, type ResultFilters } from '../api/query';
import type { ResultFacets, ValidationResult } from '../api/types';
import { useResource } from '../hooks/use-resource';
import { formatCount } from '../lib/format';
import { Link, pathOf } from '../router';
import { type Column, DataTable } from './DataTable';
import { EmptyState, ErrorMessage, Loading, SeverityBadge } from './Feedback';
import { Pager, useCursorPages } from './Pager';

export const RESULTS_PAGE_SIZE = 50;
const SHOWN_VIOLATIONS = 3;

function resultColumns(jobId: string): Column<ValidationResult>[] {
  return [
    {
      header: 'Record',
      numeric: true,
      cell: (result) => (
        <Link to={pathOf('jobs', jobId, 'results', result.recordNumber)} aria-label={`Open record ${result.recordNumber}`} data-testid="open-result">
          #{result.recordNumber}
        </Link>
      ),
    },
    {
      header: 'Result',
      cell: (result) => <span className={`badge ${result.valid ? 'badge-ok' : 'badge-bad'}`}>{result.valid ? 'valid' : 'invalid'}</span>,
    },
    { header: 'Violations', numeric: true, cell: (result) => `${result.violations.length}${result.truncated ? '+' : ''}` },
    {
      header: 'Details',
      cell: (result) =>
        result.violations.length === 0 ? (
          <span className="muted">none</span>
        ) : (
          <ul className="violation-list">
            {result.violations.slice(0, SHOWN_VIOLATIONS).map((violation, index) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: the same rule can fail twice at one path; the list is never reordered
              <li key={`${violation.ruleId}:${violation.path}:${index}`}>
                <SeverityBadge severity={violation.severity} /> <code>{violation.path || '/'}</code> {violation.message}{' '}
                <span className="muted">({violation.ruleId})</span>
              </li>
            ))}
            {result.violations.length > SHOWN_VIOLATIONS ? <li className="muted">and {result.violations.length - SHOWN_VIOLATIONS} more</li> : null}
          </ul>
        ),
    },
  ];
}

interface ResultsSearchProps {
  readonly jobId: string;
  /** Filters set from outside (a click on a rule in the summary); replaces the form. */
  readonly filters: ResultFilters;
  readonly onFiltersChange: (filters: ResultFilters) => void;
  readonly ruleIds: readonly string[];
  readonly fieldPaths: readonly string[];
  /** Changes when new results may exist (the job is still running). */
  readonly refresh?: number;
}

/** Search in a job's results with filters and cursor pagination (a stack of cursors, so "Previous" works). */
export function ResultsSearch({ jobId, filters, onFiltersChange, ruleIds, fieldPaths, refresh = 0 }: ResultsSearchProps) {
  const [draft, setDraft] = useState<ResultFilters>(filters);
  const pages = useCursorPages();
  // Facets come with the first page only; later pages keep showing them.
  const [firstPageFacets, setFirstPageFacets] = useState<ResultFacets | null>(null);
  const formId = useId();
  const { cursor, reset } = pages;
  const filtersKey = JSON.stringify(filters);

  // A new search starts again at the first page.
  useEffect(() => {
    setDraft(JSON.parse(filtersKey) as ResultFilters);
    reset();
  }, [filtersKey, reset]);

  const page = useResource(
    (signal) => api.results(jobId, filters, { cursor, limit: RESULTS_PAGE_SIZE }, signal),
    `${jobId}:${filtersKey}:${cursor ?? ''}`,
    refresh,
  );

  useEffect(() => {
    if (page.data?.facets) setFirstPageFacets(page.data.facets);
  }, [page.data]);
  const facets = page.data?.facets ?? (cursor === null ? null : firstPageFacets);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    onFiltersChange(draft);
  };
  const update = <Key extends keyof ResultFilters>(key: Key, value: ResultFilters[Key]) => setDraft((current) => ({ ...current, [key]: value }));

  return (
    <section aria-labelledby={`${formId}-title`} className="results">
      <h2 id={`${formId}-title`}>Results</h2>
      {/* biome-ignore lint/a11y/useSemanticElements: <search> is too recent for jsdom and older browsers; role=search on the form works everywhere */}
      <form className="filters" onSubmit={submit} role="search" aria-label="Filter results" data-testid="results-filters">
        <div className="field">
          <label htmlFor={`${formId}-validity`}>Records</label>
          <select id={`${formId}-validity`} value={draft.validity} onChange={(event) => update('validity', event.target.value as ResultFilters['validity'])}>
            <option value="all">All</option>
            <option value="invalid">Invalid only</option>
            <option value="valid">Valid only</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${formId}-rule`}>Rule id</label>
          <input
            id={`${formId}-rule`}
            list={`${formId}-rules`}
            value={draft.ruleId}
            onChange={(event) => update('ruleId', event.target.value)}
            spellCheck={false}
          />
          <datalist id={`${formId}-rules`}>
            {ruleIds.map((ruleId) => (
              <option key={ruleId} value={ruleId} />
            ))}
          </datalist>
        </div>
        <div className="field">
          <label htmlFor={`${formId}-severity`}>Severity</label>
          <select id={`${formId}-severity`} value={draft.severity} onChange={(event) => update('severity', event.target.value as ResultFilters['severity'])}>
            <option value="">Any</option>
            <option value="error">Error</option>
            <option value="warning">Warning</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${formId}-field`}>Field path</label>
          <input
            id={`${formId}-field`}
            list={`${formId}-fields`}
            value={draft.field}
            onChange={(event) => update('field', event.target.value)}
            placeholder="/items/0/sku"
            spellCheck={false}
          />
          <datalist id={`${formId}-fields`}>
            {fieldPaths.map((path) => (
              <option key={path} value={path} />
            ))}
          </datalist>
        </div>
        <div className="field">
          <label htmlFor={`${formId}-text`}>Message text</label>
          <input id={`${formId}-text`} type="search" value={draft.text} onChange={(event) => update('text', event.target.value)} />
        </div>
        <div className="actions">
          <button type="submit" className="primary">
            Search
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(EMPTY_RESULT_FILTERS);
              onFiltersChange(EMPTY_RESULT_FILTERS);
            }}
          >
            Reset
          </button>
        </div>
      </form>
      {facets ? (
        <p className="muted" data-testid="results-count" role="status">
          {formatCount(facets.records)} matching record{facets.records === 1 ? '' : 's'}
          {facets.byRule.length > 0
            ? ` · most frequent: ${facets.byRule
                .slice(0, 3)
                .map((rule) => `${rule.ruleId} (${formatCount(rule.violations)})`)
                .join(', ')}`
            : ''}
        </p>
      ) : null}
      {page.error ? <ErrorMessage error={page.error} title="The search failed" /> : null}
      {page.data ? (
        <DataTable
          caption="Matching results"
          testId="results-table"
          columns={resultColumns(jobId)}
          rows={page.data.items}
          rowKey={(result) => String(result.recordNumber)}
          rowTestId={(result) => `result-row-${result.recordNumber}`}
          empty={<EmptyState title="No matching records">Change or clear the filters.</EmptyState>}
        />
      ) : page.error ? null : (
        <Loading what="results" />
      )}
      <Pager label="Result pages" pages={pages} nextCursor={page.data?.nextCursor} showPageNumber />
    </section>
  );
}
