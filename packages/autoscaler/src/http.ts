import type { PrometheusText } from '@lagscale/exporter';
import type { FastifyInstance } from 'fastify';
import type { Autoscaler } from './autoscaler.js';

/**
 * Prometheus families of one autoscaler, or of every autoscaler a controller runs (each family
 * written once, with the samples of all of them, as the text format wants).
 */
export function autoscalerMetrics(source: Autoscaler | (() => Iterable<Autoscaler>)): (out: PrometheusText) => void {
  const all = (): Autoscaler[] => (typeof source === 'function' ? [...source()] : [source]);
  return (out) => {
    const autoscalers = all().map((autoscaler) => ({
      autoscaler,
      labels: { consumergroup: autoscaler.group, target: autoscaler.target.name },
      last: autoscaler.lastDecision,
    }));
    const each = (name: string, type: 'gauge' | 'counter', help: string, write: (entry: (typeof autoscalers)[number]) => void): void => {
      out.family(name, type, help);
      for (const entry of autoscalers) write(entry);
    };
    each('lagscale_autoscaler_current_replicas', 'gauge', 'Replicas the target runs, as read at the last decision.', ({ autoscaler, labels }) =>
      out.sample('lagscale_autoscaler_current_replicas', labels, autoscaler.currentReplicas),
    );
    each('lagscale_autoscaler_desired_replicas', 'gauge', 'Replicas the last decision asked for.', ({ labels, last }) => {
      if (last) out.sample('lagscale_autoscaler_desired_replicas', labels, last.desiredReplicas);
    });
    each('lagscale_autoscaler_min_replicas', 'gauge', 'The fewest replicas behavior allows (minReplicas).', ({ autoscaler, labels }) =>
      out.sample('lagscale_autoscaler_min_replicas', labels, autoscaler.behavior.minReplicas),
    );
    each('lagscale_autoscaler_max_replicas', 'gauge', 'The most replicas behavior allows (maxReplicas).', ({ autoscaler, labels }) =>
      out.sample('lagscale_autoscaler_max_replicas', labels, autoscaler.behavior.maxReplicas),
    );
    each(
      'lagscale_autoscaler_recommended_replicas',
      'gauge',
      "The policy's recommendation before behavior (stabilization, rate limits, min/max).",
      ({ labels, last }) => {
        if (last?.recommendation) out.sample('lagscale_autoscaler_recommended_replicas', { ...labels, policy: last.policy }, last.recommendation.replicas);
      },
    );
    each('lagscale_autoscaler_metric_value', 'gauge', 'The value of the metric the policy scaled on at the last decision.', ({ labels, last }) => {
      if (last?.recommendation) {
        const m = last.recommendation.metric;
        out.sample('lagscale_autoscaler_metric_value', { ...labels, policy: last.policy, metric: m.name }, m.value);
      }
    });
    each(
      'lagscale_autoscaler_decisions_total',
      'counter',
      'Scaling decisions by action (scale_up, scale_down, none, paused, fallback).',
      ({ autoscaler, labels }) => {
        for (const [action, count] of autoscaler.counters.decisionsByAction) out.sample('lagscale_autoscaler_decisions_total', { ...labels, action }, count);
      },
    );
    each('lagscale_autoscaler_scale_events_total', 'counter', 'Replica changes written to the target, by direction.', ({ autoscaler, labels }) => {
      out.sample('lagscale_autoscaler_scale_events_total', { ...labels, direction: 'up' }, autoscaler.counters.scaleUps);
      out.sample('lagscale_autoscaler_scale_events_total', { ...labels, direction: 'down' }, autoscaler.counters.scaleDowns);
    });
    each('lagscale_autoscaler_errors_total', 'counter', 'Autoscaler failures by stage (metrics, target, loop).', ({ autoscaler, labels }) => {
      for (const [stage, count] of autoscaler.counters.errorsByStage) out.sample('lagscale_autoscaler_errors_total', { ...labels, stage }, count);
    });
    each('lagscale_autoscaler_paused', 'gauge', '1 while the autoscaler is paused.', ({ autoscaler, labels }) =>
      out.sample('lagscale_autoscaler_paused', labels, autoscaler.paused ? 1 : 0),
    );
  };
}

/** What `GET /api/v1/autoscaler` answers: state, policy, behavior and the last decision. */
export function autoscalerState(autoscaler: Autoscaler) {
  return {
    group: autoscaler.group,
    target: autoscaler.target.name,
    currentReplicas: autoscaler.currentReplicas,
    desiredReplicas: autoscaler.lastDecision?.desiredReplicas ?? null,
    paused: autoscaler.paused,
    policy: { name: autoscaler.policy.name, config: autoscaler.policy.config },
    behavior: autoscaler.behavior,
    lastDecision: autoscaler.lastDecision,
  };
}

/** `/api/v1/autoscaler`: state, policy and behavior; decisions; pause and resume. */
export function registerAutoscalerRoutes(app: FastifyInstance, autoscaler: Autoscaler): void {
  app.get('/api/v1/autoscaler', async () => autoscalerState(autoscaler));
  app.get<{ Querystring: { limit?: number } }>(
    '/api/v1/autoscaler/decisions',
    { schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 10000 } }, additionalProperties: false } } },
    async (request) => ({ decisions: autoscaler.decisions(request.query.limit ?? 100) }),
  );
  // Scopes are read by the API's token check when the server has one (see docs/http-api.md).
  app.post('/api/v1/autoscaler/pause', { config: { scope: 'admin' } }, async () => {
    autoscaler.pause();
    return { paused: true };
  });
  app.post('/api/v1/autoscaler/resume', { config: { scope: 'admin' } }, async () => {
    autoscaler.resume();
    return { paused: autoscaler.paused };
  });
}
