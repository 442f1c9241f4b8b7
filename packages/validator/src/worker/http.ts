import { PrometheusText, serverOptions, writeProcessMetrics } from '@lagscale/exporter';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { WorkerMetrics } from './metrics.js';

export interface WorkerHttpState {
  ready: boolean;
  stopping: boolean;
  /** False while the result store does not answer: not ready (a load balancer, a rollout, an operator see why). */
  storeAvailable?: boolean;
  /** True while the consumer, failed after it had worked, waits to rejoin its group: not ready. */
  rejoining?: boolean;
  /** Validation threads replaced (a record or compile over its budget, or a thread that died), and the last time why. */
  validationIncidents?: { count: number; last: { kind: string; detail: string; at: string } | null };
}

/** A worker's own HTTP face: `/metrics`, `/healthz` (alive), `/readyz` (joined and consuming, not draining, its store answering). */
export function createWorkerHttp(metrics: WorkerMetrics, state: WorkerHttpState, logger: FastifyBaseLogger, labels: Record<string, string>): FastifyInstance {
  const app = Fastify(serverOptions(logger));
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    const out = new PrometheusText();
    metrics.write(out, labels);
    writeProcessMetrics(out);
    return out.toString();
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const storeDown = state.storeAvailable === false;
    const ready = state.ready && !state.stopping && !storeDown;
    reply.code(ready ? 200 : 503);
    return {
      status: ready ? 'ready' : state.stopping ? 'draining' : storeDown ? 'store_unavailable' : state.rejoining === true ? 'rejoining' : 'starting',
      // Still ready: the record that cost a thread went to the DLQ and the worker went on.
      ...(state.validationIncidents === undefined || state.validationIncidents.count === 0 ? {} : { validationThreadsReplaced: state.validationIncidents }),
    };
  });
  return app;
}
