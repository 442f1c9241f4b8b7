import { useLive } from '../api/live';
import type { AutoscalerState, GroupSummary, ShareGroupSummary } from '../api/types';
import { type Column, DataTable } from '../components/DataTable';
import { EmptyState, ErrorMessage, Loading, StatusBadge } from '../components/Feedback';
import { formatCount, formatDateTime, formatLag, formatRate, formatSeconds } from '../lib/format';
import { Link, pathOf } from '../router';

/** Replicas of a group: only the group the autoscaler drives has them. */
export function replicasOf(group: string, autoscaler: AutoscalerState | 'absent' | null): { current: number; desired: number | null } | null {
  if (!autoscaler || autoscaler === 'absent' || autoscaler.group !== group) return null;
  return { current: autoscaler.currentReplicas, desired: autoscaler.desiredReplicas };
}

export function OverviewPage() {
  const { groups, autoscaler, problem } = useLive();

  const columns: Column<GroupSummary>[] = [
    {
      header: 'Group',
      cell: (group) => (
        <Link to={pathOf('groups', group.group)} data-testid="group-link">
          {group.group}
        </Link>
      ),
    },
    { header: 'Status', cell: (group) => <StatusBadge status={group.status} reason={group.statusReason} />, testId: 'status' },
    { header: 'Lag', cell: (group) => formatLag(group.lag, group.lagComplete), numeric: true, testId: 'lag' },
    { header: 'Time lag', cell: (group) => formatSeconds(group.timeLagSeconds), numeric: true, testId: 'time-lag' },
    { header: 'Consume rate', cell: (group) => formatRate(group.consumeRate), numeric: true, testId: 'consume-rate' },
    { header: 'Produce rate', cell: (group) => formatRate(group.produceRate), numeric: true, testId: 'produce-rate' },
    { header: 'Members', cell: (group) => formatCount(group.members), numeric: true, testId: 'members' },
    {
      header: 'Replicas',
      numeric: true,
      testId: 'replicas',
      cell: (group) => formatCount(replicasOf(group.group, autoscaler)?.current),
    },
    {
      header: 'Desired',
      numeric: true,
      testId: 'desired-replicas',
      cell: (group) => formatCount(replicasOf(group.group, autoscaler)?.desired),
    },
    { header: 'Partitions', cell: (group) => formatCount(group.partitionCount), numeric: true },
  ];

  const shareColumns: Column<ShareGroupSummary>[] = [
    {
      header: 'Share group',
      cell: (group) => (
        <Link to={pathOf('sharegroups', group.group)} data-testid="share-group-link">
          {group.group}
        </Link>
      ),
    },
    { header: 'Status', cell: (group) => <StatusBadge status={group.status} reason={group.statusReason} />, testId: 'status' },
    { header: 'Lag', cell: (group) => formatShareLag(group), numeric: true, testId: 'lag' },
    { header: 'Time lag', cell: (group) => formatSeconds(group.timeLagSeconds), numeric: true, testId: 'time-lag' },
    { header: 'Acknowledge rate', cell: (group) => formatRate(group.acknowledgeRate), numeric: true, testId: 'acknowledge-rate' },
    { header: 'Produce rate', cell: (group) => formatRate(group.produceRate), numeric: true, testId: 'produce-rate' },
    { header: 'Members', cell: (group) => formatCount(group.members), numeric: true, testId: 'members' },
    { header: 'Partitions', cell: (group) => formatCount(group.partitionCount), numeric: true },
  ];
  const shareGroups = groups?.shareGroups ?? [];

  return (
    <section aria-labelledby="overview-title">
      <div className="page-head">
        <h1 id="overview-title">Consumer groups</h1>
        {groups ? (
          <p className="muted" data-testid="collection-time">
            Collected {formatDateTime(Date.parse(groups.time))}; updates live.
          </p>
        ) : null}
      </div>
      {problem && !groups ? <ErrorMessage error={problem} title="Could not load the consumer groups" /> : null}
      {groups === null ? (
        problem ? null : (
          <Loading what="consumer groups" />
        )
      ) : (
        <>
          <DataTable
            caption="Consumer groups with their lag"
            testId="groups-table"
            columns={columns}
            rows={groups.groups}
            rowKey={(group) => group.group}
            rowTestId={(group) => `group-row-${group.group}`}
            empty={
              <EmptyState title="No consumer groups yet">
                The lag exporter watches the groups in the config file (<code>groups</code>); a group shows up after its first commit.
              </EmptyState>
            }
          />
          {shareGroups.length > 0 ? (
            <>
              <h2>Share groups</h2>
              <p className="muted">Queues (Kafka 4.2+): members take records one by one and may outnumber the partitions.</p>
              <DataTable
                caption="Share groups with their lag"
                testId="share-groups-table"
                columns={shareColumns}
                rows={shareGroups}
                rowKey={(group) => group.group}
                rowTestId={(group) => `share-group-row-${group.group}`}
                empty={null}
              />
            </>
          ) : null}
          {groups.errors.length > 0 ? (
            <div className="warning" role="status">
              <p>
                <strong>Part of the last collection failed</strong>; the numbers above may be incomplete:
              </p>
              <ul>
                {groups.errors.map((error) => (
                  <li key={`${error.broker}:${error.operation}:${error.message}`}>
                    {error.operation} on {error.broker}: {error.message}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
        </>
      )}
    </section>
  );
}

/** A share group's lag: `≤ n` when some partition's count is only an upper bound or unknown (never shown as exact). */
export function formatShareLag(group: Pick<ShareGroupSummary, 'lag' | 'lagExact'>): string {
  return group.lagExact ? formatLag(group.lag) : `≤ ${formatLag(group.lag)}`;
}
