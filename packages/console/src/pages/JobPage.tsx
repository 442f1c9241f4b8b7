import { useEffect, useState } from 'react';
import { api } from '../api/endpoints';
import { EMPTY_RESULT_FILTERS, type ResultFilters } from '../api/query';
import type { FieldCount, JobSummary, RuleCount } from '../api/types';
import { BarChart } from '../components/BarChart';
import { type Column, DataTable } from '../components/DataTable';
import { ErrorMessage, Loading, SeverityBadge } from '../components/Feedback';
import { describeJobProgress } from '../components/JobUpload';
import { ProgressBar } from '../components/ProgressBar';
import { ResultsSearch } from '../components/ResultsSearch';
import { useResource } from '../hooks/use-resource';
import { formatCount, formatDateTime, progressPercent } from '../lib/format';
import { Link } from '../router';

/** While a job runs, how often its counts are read again. */
const RUNNING_POLL_MS = 2000;
const CHART_BARS = 12;

function SummarySection({ summary, onFilter }: { readonly summary: JobSummary; readonly onFilter: (filters: Partial<ResultFilters>) => void }) {
  const ruleColumns: Column<RuleCount>[] = [
    {
      header: 'Rule',
      cell: (rule) => (
        <button
          type="button"
          className="link-button"
          onClick={() => onFilter({ ruleId: rule.ruleId, validity: 'all' })}
          aria-label={`Filter the results by rule ${rule.ruleId}`}
        >
          {rule.ruleId}
        </button>
      ),
    },
    { header: 'Severity', cell: (rule) => <SeverityBadge severity={rule.severity} /> },
    { header: 'Records', cell: (rule) => formatCount(rule.records), numeric: true },
    { header: 'Violations', cell: (rule) => formatCount(rule.violations), numeric: true },
  ];
  const fieldColumns: Column<FieldCount>[] = [
    {
      header: 'Field',
      cell: (field) => (
        <button
          type="button"
          className="link-button mono"
          onClick={() => onFilter({ field: field.path, validity: 'all' })}
          aria-label={`Filter the results by field ${field.path || '/'}`}
        >
          {field.path || '/'}
        </button>
      ),
    },
    { header: 'Records', cell: (field) => formatCount(field.records), numeric: true },
    { header: 'Violations', cell: (field) => formatCount(field.violations), numeric: true },
  ];
  return (
    <section aria-labelledby="summary-title">
      <h2 id="summary-title">Summary</h2>
      <dl className="stats">
        <div>
          <dt>Records checked</dt>
          <dd data-testid="summary-records">{formatCount(summary.records)}</dd>
        </div>
        <div>
          <dt>Valid</dt>
          <dd data-testid="summary-valid">{formatCount(summary.valid)}</dd>
        </div>
        <div>
          <dt>Invalid</dt>
          <dd data-testid="summary-invalid">{formatCount(summary.invalid)}</dd>
        </div>
        <div>
          <dt>Valid with warnings</dt>
          <dd>{formatCount(summary.warningsOnly)}</dd>
        </div>
        <div>
          <dt>Violations</dt>
          <dd>{formatCount(summary.violations)}</dd>
        </div>
      </dl>
      <div className="chart-grid-2">
        <BarChart
          title="Violations by rule"
          testId="violations-by-rule-chart"
          formatValue={formatCount}
          bars={summary.byRule.slice(0, CHART_BARS).map((rule) => ({
            key: rule.ruleId,
            label: rule.ruleId,
            value: rule.violations,
            note: `in ${formatCount(rule.records)} records`,
            tone: rule.severity === 'error' ? 'bad' : 'warn',
          }))}
        />
        <BarChart
          title="Violations by field"
          testId="violations-by-field-chart"
          formatValue={formatCount}
          bars={summary.byField.slice(0, CHART_BARS).map((field) => ({
            key: field.path,
            label: field.path || '/',
            value: field.violations,
            note: `in ${formatCount(field.records)} records`,
          }))}
        />
      </div>
      <div className="chart-grid-2">
        <DataTable
          caption="Violations by rule"
          showCaption
          columns={ruleColumns}
          rows={summary.byRule}
          rowKey={(rule) => rule.ruleId}
          empty={<p className="muted">No violations.</p>}
        />
        <div>
          <DataTable
            caption="Violations by field"
            showCaption
            columns={fieldColumns}
            rows={summary.byField}
            rowKey={(field) => field.path}
            empty={<p className="muted">No violations.</p>}
          />
          {summary.byFieldTruncated ? <p className="muted">Only the fields with the most violations are listed.</p> : null}
        </div>
      </div>
    </section>
  );
}

export function JobPage({ jobId }: { readonly jobId: string }) {
  const [tick, setTick] = useState(0);
  const job = useResource((signal) => api.job(jobId, signal), jobId, tick);
  const running = job.data ? job.data.progress === null || job.data.progress < 1 : false;
  const summary = useResource((signal) => api.jobSummary(jobId, signal), jobId, `${job.data?.results ?? 0}:${job.data?.dlq ?? 0}`);
  const [filters, setFilters] = useState<ResultFilters>(EMPTY_RESULT_FILTERS);

  useEffect(() => {
    if (!running) return;
    const timer = setTimeout(() => setTick((value) => value + 1), RUNNING_POLL_MS);
    return () => clearTimeout(timer);
  }, [running]);

  const current = job.data;
  return (
    <section aria-labelledby="job-title">
      <p className="breadcrumb">
        <Link to="/jobs">Jobs</Link> /
      </p>
      <div className="page-head">
        <h1 id="job-title">
          Job <span className="job-id">{jobId}</span>
        </h1>
        {current ? (
          <p className="muted">
            Rule set <Link to={`/rulesets/${encodeURIComponent(current.ruleSet)}`}>{current.ruleSet}</Link> v{current.ruleSetVersion} · {current.source} ·
            created {formatDateTime(current.createdAt)}
            {current.dlq > 0 ? (
              <>
                {' '}
                · <Link to={`/dlq?jobId=${encodeURIComponent(jobId)}`}>{formatCount(current.dlq)} in the dead-letter queue</Link>
              </>
            ) : null}
          </p>
        ) : null}
      </div>
      {job.error ? <ErrorMessage error={job.error} title="Could not load the job" /> : null}
      {current ? (
        <ProgressBar
          label="Job progress"
          testId="job-progress"
          percent={progressPercent(current.progress)}
          valueText={describeJobProgress(current)}
          tone={running ? 'normal' : 'done'}
        />
      ) : job.error ? null : (
        <Loading what="the job" />
      )}
      {summary.error ? <ErrorMessage error={summary.error} title="Could not load the summary" /> : null}
      {summary.data ? <SummarySection summary={summary.data} onFilter={(change) => setFilters({ ...EMPTY_RESULT_FILTERS, ...change })} /> : null}
      {current ? (
        <ResultsSearch
          jobId={jobId}
          filters={filters}
          onFiltersChange={setFilters}
          ruleIds={summary.data?.byRule.map((rule) => rule.ruleId) ?? []}
          fieldPaths={summary.data?.byField.map((field) => field.path) ?? []}
          refresh={running ? tick : 0}
        />
      ) : null}
    </section>
  );
}
