import { type Autoscaler, autoscalerMetrics, registerAutoscalerRoutes, type WorkerInfo } from '@lagscale/autoscaler';
import { type HealthComponent, registerLagRoutes, serverOptions } from '@lagscale/exporter';
import type { KafkaConnectionOptions, LagMonitor } from '@lagscale/kafka';
import {
  type ApiToken,
  assertApiListenAllowed,
  type ResultStore,
  registerApiAuth,
  registerApiErrorHandler,
  registerOpenApi,
  registerValidatorApi,
  UploadMetrics,
} from '@lagscale/validator';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { registerConsoleAssets } from './console-assets.js';
import { registerLiveRoutes } from './events.js';
import { StackHistory } from './history.js';

export interface StackServerOptions {
  readonly monitor: LagMonitor;
  /** Null when the stack runs no autoscaler: its routes then answer 404 `autoscaler_not_running`. */
  readonly autoscaler: Autoscaler | null;
  readonly store: ResultStore;
  readonly connection: KafkaConnectionOptions;
  readonly logger: FastifyBaseLogger;
  /** The listen address: beyond loopback the API requires tokens. */
  readonly host: string;
  /** API tokens; none means loopback clients only (see docs/http-api.md). */
  readonly tokens: readonly ApiToken[];
  /** Host names the server answers besides loopback ones when it has no tokens (config api.allowedHosts). */
  readonly allowedHosts?: readonly string[];
  /** More parts for /healthz and /readyz (the workers). */
  readonly health?: readonly HealthComponent[];
  /** Folder of the built console; default packages/console/dist. */
  readonly consoleDir?: string;
  /** The workers whose metrics Prometheus should scrape too (`GET /prometheus/targets`). */
  readonly workers?: () => readonly WorkerInfo[];
}

/** One entry of Prometheus' HTTP service discovery answer. */
interface HttpSdGroup {
  readonly targets: string[];
  readonly labels: Record<string, string>;
}

/**
 * Prometheus HTTP service discovery (`http_sd_configs`) for the workers: each one's metrics
 * address as it said it, with its worker id. The stack's own `/metrics` is a static target.
 */
export function workerScrapeTargets(workers: readonly WorkerInfo[]): HttpSdGroup[] {
  const groups: HttpSdGroup[] = [];
  for (const worker of workers) {
    if (worker.metricsUrl === null) continue;
    const url = new URL(worker.metricsUrl);
    groups.push({
      targets: [url.host],
      labels: { __scheme__: url.protocol.replace(':', ''), __metrics_path__: url.pathname },
    });
  }
  return groups;
}

export interface StackServer {
  readonly app: FastifyInstance;
  readonly history: StackHistory;
  readonly consoleBuilt: boolean;
}

/**
 * The one HTTP server of the local stack: the validation API, the lag and autoscaler APIs, the
 * live feed, `/metrics`, `/healthz`, `/openapi.json` and the console.
 */
export async function createStackServer(options: StackServerOptions): Promise<StackServer> {
  const { monitor, autoscaler } = options;
  assertApiListenAllowed(options.host, options.tokens);
  const app = Fastify(serverOptions(options.logger));
  // The OpenAPI document and the token check see only the routes added after them.
  await registerOpenApi(app);
  registerApiAuth(app, { tokens: options.tokens, ...(options.allowedHosts === undefined ? {} : { allowedHosts: options.allowedHosts }) });
  // Every route's errors in the API's shape; unknown paths are the console's (below).
  registerApiErrorHandler(app, { notFound: false });
  const uploads = new UploadMetrics();
  registerLagRoutes(app, {
    monitor,
    metrics: [...(autoscaler ? [autoscalerMetrics(autoscaler)] : []), (out) => uploads.write(out)],
    components: options.health ?? [],
  });
  if (autoscaler) registerAutoscalerRoutes(app, autoscaler);
  else {
    app.all('/api/v1/autoscaler*', async (_request, reply) => {
      reply.code(404);
      return { error: 'autoscaler_not_running', message: 'this server runs no autoscaler; start one with `lagscale up` or `lagscale autoscale`' };
    });
  }
  const workers = options.workers;
  if (workers !== undefined) app.get('/prometheus/targets', async () => workerScrapeTargets(workers()));
  const history = new StackHistory();
  registerLiveRoutes(app, { monitor, autoscaler, history });
  await registerValidatorApi(app, { store: options.store, connection: options.connection, metrics: uploads });
  const { built } = await registerConsoleAssets(app, options.consoleDir);
  return { app, history, consoleBuilt: built };
}
