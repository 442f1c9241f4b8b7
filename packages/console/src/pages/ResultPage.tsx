import { api } from '../api/endpoints';
import type { Violation } from '../api/types';
import { type Column, DataTable } from '../components/DataTable';
import { ErrorMessage, Loading, SeverityBadge } from '../components/Feedback';
import { useResource } from '../hooks/use-resource';
import { Link, pathOf } from '../router';

const VIOLATION_COLUMNS: readonly Column<Violation>[] = [
  { header: 'Severity', cell: (violation) => <SeverityBadge severity={violation.severity} /> },
  { header: 'Field', cell: (violation) => <code>{violation.path || '/'}</code> },
  { header: 'Rule', cell: (violation) => <code>{violation.ruleId}</code> },
  { header: 'Message', cell: (violation) => violation.message },
];

/** The record's JSON text, indented when it parses (it was stored as it arrived). */
export function prettyRecord(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function ResultPage({ jobId, recordNumber }: { readonly jobId: string; readonly recordNumber: number }) {
  const result = useResource((signal) => api.result(jobId, recordNumber, signal), `${jobId}:${recordNumber}`);
  const data = result.data;
  return (
    <section aria-labelledby="result-title">
      <p className="breadcrumb">
        <Link to="/jobs">Jobs</Link> / <Link to={pathOf('jobs', jobId)}>{jobId}</Link> /
      </p>
      <div className="page-head">
        <h1 id="result-title">Record {recordNumber}</h1>
        {data ? (
          <span className={`badge ${data.valid ? 'badge-ok' : 'badge-bad'}`} data-testid="result-validity">
            {data.valid ? 'valid' : 'invalid'}
          </span>
        ) : null}
      </div>
      {result.error ? <ErrorMessage error={result.error} title="Could not load the record" /> : null}
      {!data && !result.error ? <Loading what="the record" /> : null}
      {data ? (
        <div className="chart-grid-2">
          <section aria-labelledby="violations-title">
            <h2 id="violations-title">Violations</h2>
            <DataTable
              caption={`Violations of record ${recordNumber}`}
              testId="violations-table"
              columns={VIOLATION_COLUMNS}
              rows={data.violations}
              rowKey={(violation) => `${violation.ruleId}:${violation.path}:${violation.message}`}
              empty={<p className="muted">No violations: the record passed every rule.</p>}
            />
            {data.truncated ? <p className="muted">The rule engine found more violations than it keeps per record.</p> : null}
          </section>
          <section aria-labelledby="record-title">
            <h2 id="record-title">Record</h2>
            {data.record !== undefined ? (
              <pre className="json" data-testid="record-json">
                {prettyRecord(data.record)}
              </pre>
            ) : (
              <p className="muted">
                {data.recordOmitted ? 'The record was larger than the store keeps, so only its result is shown.' : 'The record was not stored.'}
              </p>
            )}
          </section>
        </div>
      ) : null}
    </section>
  );
}
