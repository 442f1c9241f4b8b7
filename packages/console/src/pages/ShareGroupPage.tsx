import { api } from '../api/endpoints';
import { useLive } from '../api/live';
import type { SharePartitionLag } from '../api/types';
import { type Column, DataTable } from '../components/DataTable';
import { EmptyState, ErrorMessage, Loading, StatusBadge } from '../components/Feedback';
import { StatList } from '../components/StatList';
import { TimeLagCell } from '../components/TimeLagCell';
import { useResource } from '../hooks/use-resource';
import { formatCount, formatLag, formatRate, formatSeconds } from '../lib/format';
import { Link } from '../router';
import { formatShareLag } from './OverviewPage';

const PARTITION_COLUMNS: readonly Column<SharePartitionLag>[] = [
  { header: 'Topic', cell: (partition) => partition.topic },
  { header: 'Partition', cell: (partition) => partition.partition, numeric: true },
  { header: 'Start offset', cell: (partition) => formatCount(partition.startOffset), numeric: true, testId: 'start-offset' },
  { header: 'Log end', cell: (partition) => formatCount(partition.logEndOffset), numeric: true },
  {
    header: 'Lag',
    numeric: true,
    testId: 'partition-lag',
    cell: (partition) =>
      partition.lagMode === 'upper_bound' ? (
        <span title="the broker does not count acknowledged records above the start: end − start is an upper bound">≤ {formatLag(partition.lag)}</span>
      ) : (
        formatLag(partition.lag)
      ),
  },
  {
    header: 'Time lag',
    numeric: true,
    cell: (partition) => <TimeLagCell seconds={partition.timeLagSeconds} mode={partition.timeLagMode} />,
  },
  { header: 'Acknowledge rate', cell: (partition) => formatRate(partition.acknowledgeRate), numeric: true },
  { header: 'Produce rate', cell: (partition) => formatRate(partition.produceRate), numeric: true },
  { header: 'Status', cell: (partition) => <StatusBadge status={partition.status} reason={partition.statusReason} /> },
];

/** One share group (a Kafka 4.2+ queue): its lag per share-partition, reloaded after each collection. */
export function ShareGroupPage({ group }: { readonly group: string }) {
  const { groups } = useLive();
  const detail = useResource((signal) => api.shareGroup(group, signal), group, groups?.time ?? '');
  const summary = detail.data?.group;
  return (
    <section aria-labelledby="share-group-title">
      <p className="breadcrumb">
        <Link to="/">Groups</Link> /
      </p>
      <div className="page-head">
        <h1 id="share-group-title">{group}</h1>
        {summary ? (
          <p className="muted">
            Share group · <StatusBadge status={summary.status} reason={summary.statusReason} /> {summary.statusReason} · {summary.members} members · state{' '}
            {summary.state} · topics {summary.topics.join(', ') || '—'}
          </p>
        ) : null}
      </div>
      {detail.error ? <ErrorMessage error={detail.error} title="Could not load the share group" /> : null}
      {summary ? (
        <StatList
          stats={[
            { label: 'Lag', value: formatShareLag(summary), testId: 'share-group-lag' },
            { label: 'Time lag', value: formatSeconds(summary.timeLagSeconds) },
            { label: 'Acknowledge rate', value: formatRate(summary.acknowledgeRate) },
            { label: 'Produce rate', value: formatRate(summary.produceRate) },
          ]}
        />
      ) : null}
      <h2>Share-partitions</h2>
      {summary ? (
        <DataTable
          caption={`Share-partitions of ${group}`}
          testId="share-partitions-table"
          columns={PARTITION_COLUMNS}
          rows={summary.partitions}
          rowKey={(partition) => `${partition.topic}:${partition.partition}`}
          rowTestId={(partition) => `share-partition-row-${partition.topic}-${partition.partition}`}
          empty={<EmptyState title="No share-partitions">No member has fetched from the group's topics yet.</EmptyState>}
        />
      ) : detail.error ? null : (
        <Loading what="share-partitions" />
      )}
    </section>
  );
}
