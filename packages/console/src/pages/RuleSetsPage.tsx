import { api } from '../api/endpoints';
import type { RuleSetListing } from '../api/types';
import { type Column, DataTable } from '../components/DataTable';
import { EmptyState, ErrorMessage, Loading } from '../components/Feedback';
import { useResource } from '../hooks/use-resource';
import { formatDateTime } from '../lib/format';
import { Link, pathOf } from '../router';

const COLUMNS: readonly Column<RuleSetListing>[] = [
  { header: 'Name', cell: (ruleSet) => <Link to={pathOf('rulesets', ruleSet.name)}>{ruleSet.name}</Link> },
  { header: 'Latest version', cell: (ruleSet) => ruleSet.latestVersion, numeric: true },
  { header: 'Versions', cell: (ruleSet) => ruleSet.versions.join(', ') },
  { header: 'Updated', cell: (ruleSet) => formatDateTime(ruleSet.updatedAt) },
  { header: 'Records', cell: (ruleSet) => <Link to={`/jobs?ruleSet=${encodeURIComponent(ruleSet.name)}`}>Upload a file</Link> },
];

export function RuleSetsPage() {
  const ruleSets = useResource((signal) => api.ruleSets(signal), 'rulesets');
  return (
    <section aria-labelledby="rulesets-title">
      <div className="page-head">
        <h1 id="rulesets-title">Rule sets</h1>
        <Link to="/rulesets/new" className="button primary">
          New rule set
        </Link>
      </div>
      <p className="muted">A rule set is a JSON Schema plus field rules; every save is a new, immutable version.</p>
      {ruleSets.error ? <ErrorMessage error={ruleSets.error} title="Could not load the rule sets" /> : null}
      {ruleSets.data ? (
        <DataTable
          caption="Rule sets"
          testId="rulesets-table"
          columns={COLUMNS}
          rows={ruleSets.data.items}
          rowKey={(ruleSet) => ruleSet.name}
          rowTestId={(ruleSet) => `ruleset-row-${ruleSet.name}`}
          empty={
            <EmptyState title="No rule sets yet">
              <Link to="/rulesets/new">Create the first one</Link>, then upload a file of records to check against it.
            </EmptyState>
          }
        />
      ) : ruleSets.error ? null : (
        <Loading what="rule sets" />
      )}
    </section>
  );
}
