import type { GroupLag, LagSnapshot, ShareGroupLag } from '@lagscale/core';
import type { LagMonitor } from '@lagscale/kafka';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyServerOptions, LogController } from 'fastify';
import { type ApiAuthOptions, assertTokensBeyondLoopback, type RouteScope, registerApiAuth } from './auth.js';
import { BROWSER_HEADER_LINES, browserHeadersServerFactory } from './browser-headers.js';
import { CollectionMetrics, LagLabels, renderMetrics } from './lag-metrics.js';
import { writeProcessMetrics } from './process-metrics.js';
import { CONTENT_TYPE, PrometheusText } from './prometheus.js';

export interface ExporterServerOptions {
  readonly monitor: LagMonitor;
  readonly logger: FastifyBaseLogger;
  /** More metric families for /metrics (the autoscaler's, for one). */
  readonly metrics?: readonly ((out: PrometheusText) => void)[];
  /** More parts whose state `/healthz` and `/readyz` report (the stack's workers, for one). */
  readonly components?: readonly HealthComponent[];
  /**
   * Tokens and the Host check, as the validation API has them (docs/http-api.md,
   * "Authentication"): `/metrics` and `/api/v1` need a `read` token, `/healthz` and `/readyz`
   * stay open for probes; without tokens only loopback clients naming a loopback Host are served,
   * and listening beyond loopback is refused. Omitted: no checks (`lagscale exporter` and
   * `lagscale autoscale` pass them).
   */
  readonly auth?: ExporterAuthOptions;
}

export interface ExporterAuthOptions extends ApiAuthOptions {
  /** The address the server will listen on: beyond loopback, tokens are required. */
  readonly host: string;
}

/** A part of a server whose state the health routes report: failing (`ok: false`) makes both answer 503, not ready only `/readyz`. */
export interface HealthComponent {
  readonly name: string;
  check(): { readonly ok: boolean; readonly ready?: boolean } & Record<string, unknown>;
}

function groupSummary(group: GroupLag): Omit<GroupLag, 'partitions'> & { partitionCount: number } {
  const { partitions, ...summary } = group;
  return { ...summary, partitionCount: partitions.length };
}

function shareGroupSummary(group: ShareGroupLag): Omit<ShareGroupLag, 'partitions'> & { partitionCount: number } {
  const { partitions, ...summary } = group;
  return { ...summary, partitionCount: partitions.length };
}

/** What `GET /api/v1/groups` answers for a snapshot: every consumer group and share group without its partitions. */
export function groupsResponse(snapshot: LagSnapshot) {
  return {
    time: new Date(snapshot.time).toISOString(),
    groups: snapshot.groups.map(groupSummary),
    shareGroups: (snapshot.shareGroups ?? []).map(shareGroupSummary),
    errors: snapshot.errors,
  };
}

/**
 * Fastify options shared by lagscale's servers: our structured logger, no per-request log lines,
 * the browser headers (`BROWSER_HEADERS`: no framing, no sniffing, no Referer) on every response,
 * and the error body shape (`{ error, message }`) even for requests fastify or Node's HTTP parser
 * refuse before any route runs (a URL that is not UTF-8, a malformed header).
 */
export function serverOptions(logger: FastifyBaseLogger): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler'> & {
  loggerInstance: FastifyBaseLogger;
  logController: LogController;
  serverFactory: typeof browserHeadersServerFactory;
} {
  return {
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    // The headers are set where fastify cannot skip them: before it reads the request.
    serverFactory: browserHeadersServerFactory,
    frameworkErrors: (error, _request, reply) => {
      const badUrl = error.code === 'FST_ERR_BAD_URL';
      (reply as FastifyReply)
        .code(400)
        .type('application/json; charset=utf-8')
        .send({
          error: badUrl ? 'bad_url' : 'bad_request',
          message: badUrl ? `${error.message}: percent-encode the path as UTF-8` : error.message,
        });
    },
    clientErrorHandler: (error, socket) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const tooLarge = code === 'HPE_HEADER_OVERFLOW';
      const body = JSON.stringify({
        error: tooLarge ? 'headers_too_large' : 'malformed_request',
        message: tooLarge ? 'the request headers are too large: send fewer or shorter headers' : `the HTTP request cannot be read (${code ?? error.message})`,
      });
      const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(
        `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n${BROWSER_HEADER_LINES}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    },
  };
}

const errorBody = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;

/**
 * HTTP face of the lag engine: Prometheus `/metrics`, JSON under `/api/v1`, and `/healthz`.
 * Serves the latest snapshot; it never triggers a collection itself, so scrapes are cheap.
 */
export async function createExporterServer(options: ExporterServerOptions): Promise<FastifyInstance> {
  const { auth } = options;
  if (auth !== undefined) assertTokensBeyondLoopback(auth.host, auth.tokens, 'lag metrics', 'read every consumer group, topic and lag');
  const app = Fastify(serverOptions(options.logger));
  // Before the routes: the token check sees only the routes added after it.
  if (auth !== undefined) registerApiAuth(app, auth);
  registerLagRoutes(app, { ...options, ...(auth === undefined ? {} : { metricsScope: 'read' }) });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url}; try /metrics, /healthz, /api/v1/groups` });
  });
  return app;
}

export interface LagRoutesOptions extends Omit<ExporterServerOptions, 'logger' | 'auth'> {
  /** The scope `/metrics` needs where the app checks tokens (`registerApiAuth`); default: open, as the stack's. */
  readonly metricsScope?: RouteScope;
}

/** The lag engine's routes (`/metrics`, `/healthz`, `/api/v1/groups...`) on an app that may serve more. */
export function registerLagRoutes(app: FastifyInstance, options: LagRoutesOptions): void {
  const { monitor } = options;
  const collection = new CollectionMetrics(monitor);
  const labels = new LagLabels();

  app.get('/metrics', { config: options.metricsScope === undefined ? {} : { scope: options.metricsScope } }, async (_request, reply) => {
    reply.header('content-type', CONTENT_TYPE);
    const out = new PrometheusText();
    renderMetrics(out, monitor, collection, labels);
    for (const write of options.metrics ?? []) write(out);
    writeProcessMetrics(out);
    return out.toBuffer();
  });

  const lagHealth = () => {
    const latest = monitor.latest;
    const staleAfterMs = Math.max(3 * monitor.intervalMs, 30_000);
    const healthy = latest !== null && Date.now() - monitor.lastSuccess < staleAfterMs;
    return {
      healthy,
      body: {
        status: healthy ? 'ok' : latest === null ? 'starting' : 'stale',
        lastCollection: latest ? new Date(latest.time).toISOString() : null,
        cycles: monitor.counters.cycles,
        failedCycles: monitor.counters.failedCycles,
        lastError: monitor.lastError,
      },
    };
  };
  const health = (reply: FastifyReply, ready: boolean) => {
    const lag = lagHealth();
    const components = Object.fromEntries((options.components ?? []).map((component) => [component.name, component.check()]));
    const failing = Object.values(components).some((component) => !component.ok || (ready && component.ready === false));
    reply.code(lag.healthy && !failing ? 200 : 503);
    const status = !lag.healthy ? lag.body.status : failing ? 'failing' : 'ok';
    return { ...lag.body, status, ...(options.components === undefined ? {} : { components }) };
  };
  // Liveness: lag collection works and no part reports a failure (workers crash-looping, say).
  app.get('/healthz', async (_request, reply) => health(reply, false));
  // Readiness: the same, and every part is ready to serve (workers running, say).
  app.get('/readyz', async (_request, reply) => health(reply, true));

  app.get('/api/v1/groups', async (_request, reply) => {
    const latest = monitor.latest;
    if (!latest) {
      reply.code(503);
      return { error: 'not_ready', message: 'no lag collection has completed yet; retry in a few seconds' };
    }
    return groupsResponse(latest);
  });

  const groupDetail = <G extends { group: string }>(
    path: string,
    kind: { name: string; code: string },
    groupsOf: (snapshot: LagSnapshot) => readonly G[],
    answer: (snapshot: LagSnapshot, group: G) => object,
  ) =>
    app.get<{ Params: { group: string } }>(
      path,
      {
        schema: {
          params: { type: 'object', properties: { group: { type: 'string', minLength: 1, maxLength: 249 } }, required: ['group'] },
          response: { 404: errorBody, 503: errorBody },
        },
      },
      async (request, reply) => {
        const latest = monitor.latest;
        if (!latest) {
          reply.code(503);
          return { error: 'not_ready', message: 'no lag collection has completed yet; retry in a few seconds' };
        }
        const groups = groupsOf(latest);
        const group = groups.find((g) => g.group === request.params.group);
        if (group) return answer(latest, group);
        reply.code(404);
        const known = groups.map((g) => g.group);
        return {
          error: kind.code,
          message: `${kind.name} "${request.params.group}" is not watched or does not exist; watched ${kind.name}s: ${known.length > 0 ? known.join(', ') : '(none)'}`,
        };
      },
    );
  groupDetail(
    '/api/v1/groups/:group',
    { name: 'consumer group', code: 'group_not_found' },
    (snapshot) => snapshot.groups,
    (snapshot, group) => ({ time: new Date(snapshot.time).toISOString(), group, history: monitor.history(group.group) }),
  );
  groupDetail(
    '/api/v1/sharegroups/:group',
    { name: 'share group', code: 'share_group_not_found' },
    (snapshot) => snapshot.shareGroups ?? [],
    (snapshot, group) => ({ time: new Date(snapshot.time).toISOString(), group }),
  );
}
