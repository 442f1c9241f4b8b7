import { useState } from 'react';
import { api } from '../api/endpoints';
import type { Job } from '../api/types';
import { type Column, DataTable } from '../components/DataTable';
import { EmptyState, ErrorMessage, Loading } from '../components/Feedback';
import { JobUpload } from '../components/JobUpload';
import { Pager, useCursorPages } from '../components/Pager';
import { useResource } from '../hooks/use-resource';
import { formatCount, formatDateTime, progressPercent } from '../lib/format';
import { Link, pathOf } from '../router';

const PAGE_SIZE = 25;

const COLUMNS: readonly Column<Job>[] = [
  {
    header: 'Job',
    cell: (job) => (
      <Link to={pathOf('jobs', job.id)} className="mono">
        {job.id}
      </Link>
    ),
  },
  { header: 'Rule set', cell: (job) => `${job.ruleSet} v${job.ruleSetVersion}` },
  { header: 'Source', cell: (job) => job.source },
  { header: 'Created', cell: (job) => formatDateTime(job.createdAt) },
  { header: 'Records', cell: (job) => formatCount(job.total), numeric: true },
  { header: 'Valid', cell: (job) => formatCount(job.valid), numeric: true },
  { header: 'Invalid', cell: (job) => formatCount(job.invalid), numeric: true },
  { header: 'DLQ', cell: (job) => formatCount(job.dlq), numeric: true },
  {
    header: 'Progress',
    numeric: true,
    cell: (job) => {
      const percent = progressPercent(job.progress);
      return percent === null ? '—' : `${percent}%`;
    },
  },
];

function JobList({ refresh }: { readonly refresh: number }) {
  const pages = useCursorPages();
  const { cursor } = pages;
  const jobs = useResource((signal) => api.jobs({ limit: PAGE_SIZE, cursor }, signal), `jobs:${cursor ?? ''}`, refresh);
  if (jobs.error) return <ErrorMessage error={jobs.error} title="Could not load the jobs" />;
  if (!jobs.data) return <Loading what="jobs" />;
  return (
    <>
      <DataTable
        caption="Jobs, newest first"
        testId="jobs-table"
        columns={COLUMNS}
        rows={jobs.data.items}
        rowKey={(job) => job.id}
        rowTestId={(job) => `job-row-${job.id}`}
        empty={<EmptyState title="No jobs yet">Upload a file of records above.</EmptyState>}
      />
      <Pager label="Job pages" pages={pages} nextCursor={jobs.data.nextCursor} />
    </>
  );
}

export function JobsPage({ ruleSet }: { readonly ruleSet: string | null }) {
  const ruleSets = useResource((signal) => api.ruleSets(signal), 'rulesets');
  const [finished, setFinished] = useState(0);
  return (
    <section aria-labelledby="jobs-title">
      <div className="page-head">
        <h1 id="jobs-title">Validation jobs</h1>
      </div>
      <div className="panel">
        {ruleSets.error ? <ErrorMessage error={ruleSets.error} title="Could not load the rule sets" /> : null}
        {ruleSets.data ? (
          <JobUpload ruleSets={ruleSets.data.items} initialRuleSet={ruleSet} onFinished={() => setFinished((count) => count + 1)} />
        ) : ruleSets.error ? null : (
          <Loading what="rule sets" />
        )}
      </div>
      <h2>Jobs</h2>
      <JobList refresh={finished} />
    </section>
  );
}
