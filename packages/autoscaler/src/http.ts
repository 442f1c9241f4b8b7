import type { PrometheusText } from '@lagscale/exporter';
import type { FastifyInstance } from 'fastify';
import type { Autoscaler } from './autoscaler.js';

/** Prometheus families of the autoscaler, written into the exporter's /metrics. */
export function autoscalerMetrics(autoscaler: Autoscaler): (out: PrometheusText) => void {
  return (out) => {
    const labels = { consumergroup: autoscaler.group, target: autoscaler.target.name };
    const last = autoscaler.lastDecision;
    out.family('lagscale_autoscaler_current_replicas', 'gauge', 'Replicas the target runs, as read at the last decision.');
    out.sample('lagscale_autoscaler_current_replicas', labels, autoscaler.currentReplicas);
    out.family('lagscale_autoscaler_desired_replicas', 'gauge', 'Replicas the last decision asked for.');
    if (last) out.sample('lagscale_autoscaler_desired_replicas', labels, last.desiredReplicas);
    out.family('lagscale_autoscaler_recommended_replicas', 'gauge', "The policy's recommendation before behavior (stabilization, rate limits, min/max).");
    if (last?.recommendation) out.sample('lagscale_autoscaler_recommended_replicas', { ...labels, policy: last.policy }, last.recommendation.replicas);
    out.family('lagscale_autoscaler_metric_value', 'gauge', 'The value of the metric the policy scaled on at the last decision.');
    if (last?.recommendation) {
      const m = last.recommendation.metric;
      out.sample('lagscale_autoscaler_metric_value', { ...labels, policy: last.policy, metric: m.name }, m.value);
    }
    out.family('lagscale_autoscaler_decisions_total', 'counter', 'Scaling decisions by action (scale_up, scale_down, none, paused, fallback).');
    for (const [action, count] of autoscaler.counters.decisionsByAction) out.sample('lagscale_autoscaler_decisions_total', { ...labels, action }, count);
    out.family('lagscale_autoscaler_scale_events_total', 'counter', 'Replica changes written to the target, by direction.');
    out.sample('lagscale_autoscaler_scale_events_total', { ...labels, direction: 'up' }, autoscaler.counters.scaleUps);
    out.sample('lagscale_autoscaler_scale_events_total', { ...labels, direction: 'down' }, autoscaler.counters.scaleDowns);
    out.family('lagscale_autoscaler_errors_total', 'counter', 'Autoscaler failures by stage (metrics, target, loop).');
    for (const [stage, count] of autoscaler.counters.errorsByStage) out.sample('lagscale_autoscaler_errors_total', { ...labels, stage }, count);
    out.family('lagscale_autoscaler_paused', 'gauge', '1 while the autoscaler is paused.');
    out.sample('lagscale_autoscaler_paused', labels, autoscaler.paused ? 1 : 0);
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
