import { useState } from 'react';
import { api } from '../api/endpoints';
import { useLive } from '../api/live';
import type { AutoscalerState, ScalingDecision, ScalingRules } from '../api/types';
import { type Column, DataTable } from '../components/DataTable';
import { EmptyState, ErrorMessage, Loading } from '../components/Feedback';
import { LineChart } from '../components/LineChart';
import { useResource } from '../hooks/use-resource';
import { formatClock, formatCount, formatLag, formatRate, formatSeconds, humanize } from '../lib/format';
import { collapseDecisions, type DecisionRow, mergeDecisions, replicaSeries } from '../lib/series';
import { Link, pathOf } from '../router';

const DECISION_LIMIT = 200;
/** Rows of the decision log per page. */
const ROWS_PER_PAGE = 25;

const DECISION_COLUMNS: readonly Column<ScalingDecision>[] = [
  { header: 'Time', cell: (decision) => <time dateTime={new Date(decision.time).toISOString()}>{formatClock(decision.time)}</time> },
  { header: 'Action', cell: (decision) => <span className={`action action-${decision.action}`}>{humanize(decision.action)}</span> },
  {
    header: 'Replicas',
    numeric: true,
    cell: (decision) =>
      decision.currentReplicas === decision.desiredReplicas ? String(decision.currentReplicas) : `${decision.currentReplicas} → ${decision.desiredReplicas}`,
  },
  {
    header: 'Reason',
    cell: (decision) => (
      <div className="decision-reason">
        <p>{decision.reason}</p>
        {decision.recommendation ? (
          <p>
            <code className="arithmetic">{decision.recommendation.arithmetic}</code>
          </p>
        ) : null}
        {decision.adjustments.length > 0 ? (
          <ul className="adjustments">
            {decision.adjustments.map((adjustment) => (
              <li key={adjustment}>{adjustment}</li>
            ))}
          </ul>
        ) : null}
      </div>
    ),
  },
  {
    header: 'Inputs',
    cell: (decision) => (
      <span className="inputs">
        lag {formatLag(decision.inputs.lag)} · time lag {formatSeconds(decision.inputs.timeLagSeconds)} · in {formatRate(decision.inputs.produceRate)} · out{' '}
        {formatRate(decision.inputs.consumeRate)} · {decision.inputs.activeConsumers} consumers / {decision.inputs.partitions} partitions
      </span>
    ),
  },
];

/** The decision columns for log rows: a run shows its count and time span where a decision shows its time. */
const ROW_COLUMNS: readonly Column<DecisionRow>[] = DECISION_COLUMNS.map((column, index) => ({
  ...column,
  cell: (row: DecisionRow) =>
    index === 0 && row.kind === 'run' ? (
      <span className="decision-run">
        {row.count} unchanged, <time dateTime={new Date(row.from).toISOString()}>{formatClock(row.from)}</time> to{' '}
        <time dateTime={new Date(row.to).toISOString()}>{formatClock(row.to)}</time>
      </span>
    ) : (
      column.cell(row.decision)
    ),
}));

function RulesDescription({ direction, rules }: { readonly direction: string; readonly rules: ScalingRules }) {
  return (
    <div>
      <dt>{direction}</dt>
      <dd>
        stabilization {rules.stabilizationWindowSeconds} s, select {rules.selectPolicy}
        {rules.policies.length > 0 ? (
          <ul>
            {rules.policies.map((policy) => (
              <li key={`${policy.type}:${policy.value}:${policy.periodSeconds}`}>
                at most {policy.value}
                {policy.type === 'Percent' ? '%' : ' pods'} per {policy.periodSeconds} s
              </li>
            ))}
          </ul>
        ) : null}
      </dd>
    </div>
  );
}

function PolicyAndBehavior({ state }: { readonly state: AutoscalerState }) {
  const { behavior } = state;
  return (
    <div className="panel-grid">
      <section className="panel" aria-labelledby="policy-title">
        <h2 id="policy-title">Policy</h2>
        <p>
          <strong data-testid="policy-name">{state.policy.name}</strong> on group <Link to={pathOf('groups', state.group)}>{state.group}</Link>, target{' '}
          <strong>{state.target}</strong>
        </p>
        {state.policy.config !== undefined ? <pre className="json">{JSON.stringify(state.policy.config, null, 2)}</pre> : null}
      </section>
      <section className="panel" aria-labelledby="behavior-title">
        <h2 id="behavior-title">Behavior</h2>
        <dl className="definitions">
          <div>
            <dt>Replicas</dt>
            <dd>
              {behavior.minReplicas} to {behavior.maxReplicas}
              {behavior.idleReplicas !== null ? `, ${behavior.idleReplicas} when idle (after ${behavior.cooldownSeconds} s)` : ''}
            </dd>
          </div>
          <RulesDescription direction="Scale up" rules={behavior.scaleUp} />
          <RulesDescription direction="Scale down" rules={behavior.scaleDown} />
          <div>
            <dt>Fallback</dt>
            <dd>
              {behavior.fallback
                ? `${behavior.fallback.replicas} replicas after ${behavior.fallback.failureThreshold} failed reads`
                : 'keep the current replicas'}
            </dd>
          </div>
          {behavior.paused !== false ? (
            <div>
              <dt>Paused by config</dt>
              <dd>{behavior.paused === true ? 'yes' : `holding ${behavior.paused} replicas`}</dd>
            </div>
          ) : null}
        </dl>
      </section>
    </div>
  );
}

export function AutoscalerPage() {
  const { autoscaler, setAutoscaler } = useLive();
  const state = autoscaler && autoscaler !== 'absent' ? autoscaler : null;
  const decisions = useResource((signal) => api.decisions(DECISION_LIMIT, signal), 'decisions', state?.lastDecision?.time ?? 0);
  const [toggling, setToggling] = useState(false);
  const [page, setPage] = useState(0);
  const [toggleError, setToggleError] = useState<Error | null>(null);

  if (autoscaler === null) return <Loading what="the autoscaler" />;
  if (autoscaler === 'absent' || state === null) {
    return (
      <section aria-labelledby="autoscaler-title">
        <h1 id="autoscaler-title">Autoscaler</h1>
        <EmptyState title="No autoscaler runs in this server">
          Start one with <code>lagscale autoscale</code>, or <code>npm start</code> for the local stack.
        </EmptyState>
      </section>
    );
  }

  const ordered = mergeDecisions(decisions.data?.decisions ?? [], state.lastDecision ? [state.lastDecision] : [], DECISION_LIMIT);
  const series = replicaSeries(ordered);
  const newestFirst = [...ordered].reverse();
  const rows = collapseDecisions(newestFirst);
  const pageCount = Math.max(1, Math.ceil(rows.length / ROWS_PER_PAGE));
  const shownPage = Math.min(page, pageCount - 1);
  const pageRows = rows.slice(shownPage * ROWS_PER_PAGE, (shownPage + 1) * ROWS_PER_PAGE);

  const toggle = async () => {
    setToggling(true);
    setToggleError(null);
    try {
      const result = state.paused ? await api.resumeAutoscaler() : await api.pauseAutoscaler();
      setAutoscaler({ ...state, paused: result.paused });
    } catch (error) {
      setToggleError(error instanceof Error ? error : new Error(String(error)));
    } finally {
      setToggling(false);
    }
  };

  return (
    <section aria-labelledby="autoscaler-title">
      <div className="page-head">
        <h1 id="autoscaler-title">Autoscaler</h1>
        <div className="actions">
          <span className={`badge ${state.paused ? 'badge-warn' : 'badge-ok'}`} data-testid="autoscaler-state">
            {state.paused ? 'paused' : 'running'}
          </span>
          <button type="button" className="primary" onClick={toggle} disabled={toggling} aria-describedby="pause-help">
            {state.paused ? 'Resume' : 'Pause'}
          </button>
        </div>
      </div>
      <p id="pause-help" className="muted">
        While paused, decisions are still computed and logged but the replica count is left alone. Needs an admin token.
      </p>
      {toggleError ? <ErrorMessage error={toggleError} title={state.paused ? 'Could not resume' : 'Could not pause'} /> : null}
      <dl className="stats">
        <div>
          <dt>Current replicas</dt>
          <dd data-testid="current-replicas">{formatCount(state.currentReplicas)}</dd>
        </div>
        <div>
          <dt>Desired replicas</dt>
          <dd data-testid="desired-replicas">{formatCount(state.desiredReplicas)}</dd>
        </div>
        <div>
          <dt>Last decision</dt>
          <dd>{state.lastDecision ? `${humanize(state.lastDecision.action)} at ${formatClock(state.lastDecision.time)}` : '—'}</dd>
        </div>
      </dl>
      <LineChart
        title="Desired and current replicas"
        testId="autoscaler-replicas-chart"
        times={series.map((point) => point.t)}
        integerTicks
        formatValue={formatCount}
        series={[
          { key: 'current', label: 'Current', color: 'var(--chart-2)', step: true, values: series.map((point) => point.current) },
          { key: 'desired', label: 'Desired', color: 'var(--chart-3)', step: true, dashed: true, values: series.map((point) => point.desired) },
        ]}
      />
      <PolicyAndBehavior state={state} />
      <h2>Decisions</h2>
      {decisions.error ? <ErrorMessage error={decisions.error} title="Could not load the decisions" /> : null}
      <DataTable
        caption="Scaling decisions, newest first; runs of unchanged decisions are one row"
        testId="decisions-table"
        columns={ROW_COLUMNS}
        rows={pageRows}
        rowKey={(row) => `${row.kind}:${row.decision.time}`}
        rowTestId={(row) => (row.kind === 'run' ? 'decision-run-row' : 'decision-row')}
        empty={<EmptyState title="No decisions yet">The first one comes after the first lag collection.</EmptyState>}
      />
      {pageCount > 1 ? (
        <nav className="pager" aria-label="Decision pages">
          <button type="button" onClick={() => setPage((p) => Math.max(0, p - 1))} disabled={shownPage === 0}>
            Newer
          </button>
          <span data-testid="decision-page">
            page {shownPage + 1} of {pageCount}
          </span>
          <button type="button" onClick={() => setPage((p) => Math.min(pageCount - 1, p + 1))} disabled={shownPage >= pageCount - 1}>
            Older
          </button>
        </nav>
      ) : null}
    </section>
  );
}
