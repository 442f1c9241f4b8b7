/**
 * The lagscale Grafana dashboard, written as code against Grafana's own dashboard types
 * (`@grafana/schema`), rendered to `lagscale.json` by `render.ts`. Every panel reads series that
 * lagscale exports (the exporter or stack's /metrics, the controller's, each worker's); the
 * deploy tests type-check this file, render it and run every query against a real Prometheus.
 */
import type { AnnotationQuery, Dashboard, DataQuery, Panel, RowPanel, VariableModel } from '@grafana/schema';

/** The data source picked at the top of the dashboard. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** The consumer groups picked at the top of the dashboard. */
const GROUP = 'consumergroup=~"$consumergroup"';
/** The share groups picked at the top of the dashboard. */
const SHARE_GROUP = 'sharegroup=~"$sharegroup"';

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly type: 'timeseries' | 'stat' | 'state-timeline';
  readonly queries: readonly { readonly expr: string; readonly legend: string }[];
  readonly unit?: string;
  readonly width?: number;
  readonly stack?: boolean;
  readonly mappings?: NonNullable<Panel['fieldConfig']>['defaults']['mappings'];
}

const ROWS: readonly { readonly title: string; readonly panels: readonly PanelSpec[] }[] = [
  {
    title: 'Lag',
    panels: [
      {
        title: 'Group status',
        description: 'Burrow-style status of each group: OK, WARN, ERR, STOP, STALL or REWIND (docs/burrow-status.md).',
        type: 'state-timeline',
        queries: [{ expr: `max by (consumergroup, status) (lagscale_consumergroup_status{${GROUP}}) == 1`, legend: '{{consumergroup}} {{status}}' }],
        width: 24,
      },
      {
        title: 'Time lag by group',
        description: 'Age of the oldest record each group has not consumed (its largest partition time lag).',
        type: 'timeseries',
        queries: [{ expr: `max by (consumergroup) (lagscale_consumergroup_max_time_lag_seconds{${GROUP}})`, legend: '{{consumergroup}}' }],
        unit: 's',
      },
      {
        title: 'Lag by group and topic',
        description: 'Records not yet consumed (log end minus committed offset), summed over the partitions of each topic.',
        type: 'timeseries',
        queries: [{ expr: `sum by (consumergroup, topic) (kafka_consumergroup_lag{${GROUP}})`, legend: '{{consumergroup}} {{topic}}' }],
        unit: 'short',
      },
      {
        title: 'Time lag by partition',
        description: 'Time lag of every partition; one far above the rest is a hot or stuck partition.',
        type: 'timeseries',
        queries: [
          {
            expr: `max by (consumergroup, topic, partition) (lagscale_consumergroup_time_lag_seconds{${GROUP}})`,
            legend: '{{consumergroup}} {{topic}}/{{partition}}',
          },
        ],
        unit: 's',
      },
      {
        title: 'Lag by partition',
        description: 'Lag of every partition of the selected groups.',
        type: 'timeseries',
        queries: [
          { expr: `max by (consumergroup, topic, partition) (kafka_consumergroup_lag{${GROUP}})`, legend: '{{consumergroup}} {{topic}}/{{partition}}' },
        ],
        unit: 'short',
      },
      {
        title: 'Produce and consume rates',
        description: 'Records per second written into the partitions a group reads, and consumed (committed) by it.',
        type: 'timeseries',
        queries: [
          { expr: `max by (consumergroup) (lagscale_consumergroup_produced_records_per_second{${GROUP}})`, legend: '{{consumergroup}} produced' },
          { expr: `max by (consumergroup) (lagscale_consumergroup_consumed_records_per_second{${GROUP}})`, legend: '{{consumergroup}} consumed' },
        ],
        unit: 'rps',
      },
      {
        title: 'Partitions not OK',
        description: 'Partitions by status severity: 1 WARN, 2 ERR, STOP, STALL or REWIND.',
        type: 'timeseries',
        queries: [
          {
            expr: `count by (consumergroup) (lagscale_consumergroup_partition_status_severity{${GROUP}} > 0) or max by (consumergroup) (0 * lagscale_consumergroup_partition_status_severity{${GROUP}})`,
            legend: '{{consumergroup}}',
          },
        ],
        unit: 'short',
      },
    ],
  },
  {
    title: 'Autoscaler',
    panels: [
      {
        title: 'Replicas: desired, current, recommended',
        description:
          'What the last decision asked for, what runs, what the policy recommended before behavior, and the min/max bounds. Scale events are annotations.',
        type: 'timeseries',
        queries: [
          { expr: `max by (consumergroup, target) (lagscale_autoscaler_desired_replicas{${GROUP}})`, legend: '{{target}} desired' },
          { expr: `max by (consumergroup, target) (lagscale_autoscaler_current_replicas{${GROUP}})`, legend: '{{target}} current' },
          { expr: `max by (consumergroup, target) (lagscale_autoscaler_recommended_replicas{${GROUP}})`, legend: '{{target}} recommended' },
          { expr: `max by (consumergroup, target) (lagscale_autoscaler_max_replicas{${GROUP}})`, legend: '{{target}} max' },
        ],
        unit: 'short',
        width: 16,
      },
      {
        title: 'Decisions',
        description: 'Decisions per minute by action: scale_up, scale_down, none, paused, fallback.',
        type: 'timeseries',
        queries: [{ expr: `sum by (action) (increase(lagscale_autoscaler_decisions_total{${GROUP}}[$__rate_interval]))`, legend: '{{action}}' }],
        unit: 'short',
        width: 8,
        stack: true,
      },
      {
        title: 'Policy metric',
        description: 'The value the policy scaled on at each decision (lag per replica, time lag, rates).',
        type: 'timeseries',
        queries: [{ expr: `max by (consumergroup, policy, metric) (lagscale_autoscaler_metric_value{${GROUP}})`, legend: '{{policy}} {{metric}}' }],
      },
      {
        title: 'Lag collection',
        description: 'Average time of a lag collection cycle, and cycles that could not read the cluster.',
        type: 'timeseries',
        queries: [
          {
            expr: 'sum(rate(lagscale_collection_duration_seconds_sum[$__rate_interval])) / sum(rate(lagscale_collection_duration_seconds_count[$__rate_interval]))',
            legend: 'cycle time',
          },
          { expr: 'sum(increase(lagscale_collection_failed_cycles_total[$__rate_interval]))', legend: 'failed cycles' },
        ],
        unit: 's',
      },
    ],
  },
  {
    title: 'Share groups (Kafka 4.2+ queues)',
    panels: [
      {
        title: 'Share group status',
        description: "Burrow-style status of each share group, on its share-partitions' start offsets (STALL: the start does not move while records wait).",
        type: 'state-timeline',
        queries: [{ expr: `max by (sharegroup, status) (lagscale_sharegroup_status{${SHARE_GROUP}}) == 1`, legend: '{{sharegroup}} {{status}}' }],
        width: 24,
      },
      {
        title: 'Share-group lag by topic',
        description: "Records not yet acknowledged, the broker's count (KIP-1226), summed over the partitions of each topic.",
        type: 'timeseries',
        queries: [{ expr: `sum by (sharegroup, topic) (lagscale_sharegroup_lag_sum{${SHARE_GROUP}})`, legend: '{{sharegroup}} {{topic}}' }],
        unit: 'short',
      },
      {
        title: 'Share-group time lag',
        description: 'Age of the oldest record each share group has not acknowledged.',
        type: 'timeseries',
        queries: [{ expr: `max by (sharegroup) (lagscale_sharegroup_max_time_lag_seconds{${SHARE_GROUP}})`, legend: '{{sharegroup}}' }],
        unit: 's',
      },
      {
        title: 'Share-group members and acknowledgements',
        description: 'Members of each share group (they may outnumber the partitions) and the records they acknowledge per second.',
        type: 'timeseries',
        queries: [
          { expr: `max by (sharegroup) (lagscale_sharegroup_members{${SHARE_GROUP}})`, legend: '{{sharegroup}} members' },
          { expr: `max by (sharegroup) (lagscale_sharegroup_acknowledged_records_per_second{${SHARE_GROUP}})`, legend: '{{sharegroup}} acknowledged/s' },
        ],
        unit: 'short',
        width: 24,
      },
    ],
  },
  {
    title: 'Validator',
    panels: [
      {
        title: 'Records validated',
        description: 'Records per second the workers finished, by outcome (valid, invalid, dlq).',
        type: 'timeseries',
        queries: [{ expr: 'sum by (outcome) (rate(lagscale_validator_records_total[$__rate_interval]))', legend: '{{outcome}}' }],
        unit: 'rps',
        stack: true,
      },
      {
        title: 'Violations',
        description: 'Rule violations found per second, by severity.',
        type: 'timeseries',
        queries: [{ expr: 'sum by (severity) (rate(lagscale_validator_violations_total[$__rate_interval]))', legend: '{{severity}}' }],
        unit: 'short',
        stack: true,
      },
      {
        title: 'Dead letters',
        description: 'Records sent to the dead-letter queue: by the workers, by reason code; by uploads (lines that are not records), from the API.',
        type: 'timeseries',
        queries: [
          { expr: 'sum by (code) (increase(lagscale_validator_dlq_records_total[$__rate_interval]))', legend: '{{code}}' },
          { expr: 'sum(increase(lagscale_validator_upload_records_total{outcome="dlq"}[$__rate_interval]))', legend: 'refused at upload' },
        ],
        unit: 'short',
        stack: true,
      },
      {
        title: 'Batch time (p95) and store',
        description: 'Time to validate and store one batch (95th percentile over all workers), and workers whose result store answers.',
        type: 'timeseries',
        queries: [
          { expr: 'histogram_quantile(0.95, sum by (le) (rate(lagscale_validator_batch_duration_seconds_bucket[$__rate_interval])))', legend: 'p95 batch' },
          { expr: 'sum(lagscale_validator_store_up)', legend: 'workers with their store up' },
        ],
        unit: 's',
      },
    ],
  },
];

/** Grafana's 24-column grid: panels in rows, 12 wide unless they say otherwise, 8 high. */
function layout(): (Panel | RowPanel)[] {
  const panels: (Panel | RowPanel)[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ type: 'row', id: id++, title: row.title, collapsed: false, gridPos: { x: 0, y: y++, w: 24, h: 1 }, panels: [] });
    let x = 0;
    for (const spec of row.panels) {
      const w = spec.width ?? 12;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push(panel(spec, id++, { x, y, w, h: 8 }));
      x += w;
    }
    y += 8;
  }
  return panels;
}

function panel(spec: PanelSpec, id: number, gridPos: { x: number; y: number; w: number; h: number }): Panel {
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos,
    targets: spec.queries.map((query, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: query.expr,
      legendFormat: query.legend,
      range: true,
    })),
    fieldConfig: {
      defaults: {
        ...(spec.unit === undefined ? {} : { unit: spec.unit }),
        ...(spec.mappings === undefined ? {} : { mappings: spec.mappings }),
        custom:
          spec.type === 'timeseries'
            ? { drawStyle: 'line', lineWidth: 1, fillOpacity: spec.stack ? 30 : 0, stacking: { mode: spec.stack ? 'normal' : 'none' } }
            : {},
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
  };
}

const variables: VariableModel[] = [
  { name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', refresh: 1, hide: 0 },
  {
    name: 'consumergroup',
    label: 'Consumer group',
    type: 'query',
    datasource: DATASOURCE,
    query: { query: 'label_values(kafka_consumergroup_lag, consumergroup)', refId: 'groups' },
    refresh: 2,
    sort: 1,
    multi: true,
    includeAll: true,
    allValue: '.+',
    current: { text: 'All', value: '$__all' },
    hide: 0,
  },
  {
    name: 'sharegroup',
    label: 'Share group',
    type: 'query',
    datasource: DATASOURCE,
    query: { query: 'label_values(lagscale_sharegroup_lag, sharegroup)', refId: 'sharegroups' },
    refresh: 2,
    sort: 1,
    multi: true,
    includeAll: true,
    allValue: '.+',
    current: { text: 'All', value: '$__all' },
    hide: 0,
  },
];

/** A Prometheus annotation: the query in `target` (current Grafana) and at the top (older ones read it there). */
interface PrometheusAnnotation extends AnnotationQuery<DataQuery & { expr: string }> {
  readonly expr: string;
  readonly step: string;
  readonly titleFormat: string;
  readonly textFormat: string;
  readonly useValueForTime: boolean;
}

const SCALE_EVENTS = `sum by (consumergroup, target, direction) (increase(lagscale_autoscaler_scale_events_total{${GROUP}}[1m])) > 0`;

const scaleEvents: PrometheusAnnotation = {
  name: 'Scale events',
  enable: true,
  iconColor: 'orange',
  datasource: DATASOURCE,
  target: { refId: 'scale', expr: SCALE_EVENTS },
  expr: SCALE_EVENTS,
  step: '15s',
  titleFormat: 'scale {{direction}}',
  textFormat: '{{target}}',
  useValueForTime: false,
};

export const dashboard: Dashboard = {
  uid: 'lagscale',
  title: 'lagscale: Kafka consumer lag and autoscaling',
  description: 'Lag and time lag per group and partition, Burrow-style status, rates, autoscaler decisions and the validation workers.',
  tags: ['kafka', 'lagscale', 'autoscaling'],
  editable: true,
  graphTooltip: 1,
  schemaVersion: 41,
  version: 1,
  refresh: '10s',
  time: { from: 'now-1h', to: 'now' },
  timezone: 'browser',
  templating: { list: variables },
  annotations: { list: [scaleEvents] },
  panels: layout(),
};

/** Every PromQL expression of the dashboard (panels, annotations, variables), with where it is. */
export function dashboardQueries(board: Dashboard = dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of board.panels ?? []) {
    for (const target of (p as Panel).targets ?? []) out.push({ where: `panel "${p.title}" ${String(target.refId)}`, expr: String(target.expr) });
  }
  for (const a of board.annotations?.list ?? [])
    out.push({ where: `annotation "${a.name}"`, expr: String((a.target as { expr?: unknown } | undefined)?.expr) });
  for (const v of board.templating?.list ?? []) {
    const query = typeof v.query === 'object' ? v.query.query : v.query;
    // label_values(series, label): the series must exist for the list to have values
    if (v.type === 'query') out.push({ where: `variable "${v.name}"`, expr: String(query).replace(/^label_values\((.+), *\w+\)$/, '$1') });
  }
  return out;
}
