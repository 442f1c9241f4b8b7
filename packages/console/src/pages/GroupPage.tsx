import { useEffect, useState } from 'react';
import { api } from '../api/endpoints';
import { useLive } from '../api/live';
import type { HistoryPoint, PartitionLag } from '../api/types';
import { type Column, DataTable } from '../components/DataTable';
import { EmptyState, ErrorMessage, Loading, StatusBadge } from '../components/Feedback';
import { LineChart } from '../components/LineChart';
import { StatList } from '../components/StatList';
import { TimeLagCell } from '../components/TimeLagCell';
import { useResource } from '../hooks/use-resource';
import { formatCount, formatLag, formatRate, formatSeconds, formatSecondsShort } from '../lib/format';
import { mergePoints } from '../lib/series';
import { Link } from '../router';

const PARTITION_COLUMNS: readonly Column<PartitionLag>[] = [
  { header: 'Topic', cell: (partition) => partition.topic },
  { header: 'Partition', cell: (partition) => partition.partition, numeric: true },
  { header: 'Committed', cell: (partition) => formatCount(partition.committedOffset), numeric: true },
  { header: 'Log end', cell: (partition) => formatCount(partition.logEndOffset), numeric: true },
  { header: 'Lag', cell: (partition) => formatLag(partition.lag), numeric: true, testId: 'partition-lag' },
  {
    header: 'Time lag',
    numeric: true,
    cell: (partition) => <TimeLagCell seconds={partition.timeLagSeconds} mode={partition.timeLagMode} />,
  },
  { header: 'Consume rate', cell: (partition) => formatRate(partition.consumeRate), numeric: true },
  { header: 'Status', cell: (partition) => <StatusBadge status={partition.status} reason={partition.statusReason} /> },
  {
    header: 'Owner',
    cell: (partition) =>
      partition.owner ? (
        <span title={partition.owner.memberId}>
          {partition.owner.clientId} <span className="muted">@ {partition.owner.host}</span>
        </span>
      ) : (
        <span className="muted">unassigned</span>
      ),
  },
];

/** History of one group: the initial 30 minutes from the server, then live `point` events. */
export function useGroupHistory(group: string): { points: readonly HistoryPoint[]; error: Error | null } {
  const { onPoint } = useLive();
  const initial = useResource((signal) => api.history(group, signal), group);
  const [live, setLive] = useState<HistoryPoint[]>([]);

  useEffect(() => {
    setLive([]);
    return onPoint((event) => {
      if (event.group === group) setLive((current) => mergePoints(current, [event.point]));
    });
  }, [group, onPoint]);

  const points = mergePoints(initial.data?.points ?? [], live);
  return { points, error: initial.error };
}

export function GroupPage({ group }: { readonly group: string }) {
  const { groups } = useLive();
  // Partitions are not in the live summary: load the group again after each collection.
  const detail = useResource((signal) => api.group(group, signal), group, groups?.time ?? '');
  const history = useGroupHistory(group);
  const times = history.points.map((point) => point.t);
  const summary = detail.data?.group;

  return (
    <section aria-labelledby="group-title">
      <p className="breadcrumb">
        <Link to="/">Consumer groups</Link> /
      </p>
      <div className="page-head">
        <h1 id="group-title">{group}</h1>
        {summary ? (
          <p className="muted">
            <StatusBadge status={summary.status} reason={summary.statusReason} /> {summary.statusReason} · {summary.members} members · state {summary.state} ·{' '}
            topics {summary.topics.join(', ') || '—'}
          </p>
        ) : null}
      </div>
      {detail.error ? <ErrorMessage error={detail.error} title="Could not load the group" /> : null}
      {summary ? (
        <StatList
          stats={[
            { label: 'Lag', value: formatLag(summary.lag, summary.lagComplete), testId: 'group-lag' },
            { label: 'Time lag', value: formatSeconds(summary.timeLagSeconds) },
            { label: 'Consume rate', value: formatRate(summary.consumeRate) },
            { label: 'Produce rate', value: formatRate(summary.produceRate) },
          ]}
        />
      ) : null}

      <h2>Over the last 30 minutes</h2>
      {history.error ? <ErrorMessage error={history.error} title="Could not load the history" /> : null}
      <div className="chart-grid-2">
        <LineChart
          title="Lag (records)"
          testId="lag-chart"
          times={times}
          formatValue={formatCount}
          series={[{ key: 'lag', label: 'Lag', color: 'var(--chart-1)', values: history.points.map((point) => point.lag) }]}
        />
        <LineChart
          title="Replicas"
          testId="replicas-chart"
          times={times}
          integerTicks
          formatValue={formatCount}
          series={[
            { key: 'current', label: 'Current', color: 'var(--chart-2)', step: true, values: history.points.map((point) => point.currentReplicas) },
            {
              key: 'desired',
              label: 'Desired',
              color: 'var(--chart-3)',
              step: true,
              dashed: true,
              values: history.points.map((point) => point.desiredReplicas),
            },
          ]}
        />
        <LineChart
          title="Time lag (seconds)"
          times={times}
          formatValue={(value) => formatSeconds(value)}
          formatTick={formatSecondsShort}
          series={[{ key: 'time-lag', label: 'Time lag', color: 'var(--chart-4)', values: history.points.map((point) => point.timeLagSeconds) }]}
        />
        <LineChart
          title="Rates (records/s)"
          times={times}
          formatValue={(value) => formatRate(value)}
          series={[
            { key: 'produce', label: 'Produce', color: 'var(--chart-3)', dashed: true, values: history.points.map((point) => point.produceRate) },
            { key: 'consume', label: 'Consume', color: 'var(--chart-2)', values: history.points.map((point) => point.consumeRate) },
          ]}
        />
      </div>

      <h2>Partitions</h2>
      {summary ? (
        <DataTable
          caption={`Partitions of ${group}`}
          testId="partitions-table"
          columns={PARTITION_COLUMNS}
          rows={summary.partitions}
          rowKey={(partition) => `${partition.topic}:${partition.partition}`}
          rowTestId={(partition) => `partition-row-${partition.topic}-${partition.partition}`}
          empty={<EmptyState title="No partitions">The group has no committed offsets and no assignment yet.</EmptyState>}
        />
      ) : detail.error ? null : (
        <Loading what="partitions" />
      )}
    </section>
  );
}
