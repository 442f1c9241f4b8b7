import { type Autoscaler, autoscalerState } from '@lagscale/autoscaler';
import { groupsResponse } from '@lagscale/exporter';
import type { LagMonitor } from '@lagscale/kafka';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { StackHistory } from './history.js';

export interface LiveRoutesOptions {
  readonly monitor: LagMonitor;
  readonly autoscaler: Autoscaler | null;
  readonly history: StackHistory;
  /** A comment line this often keeps proxies from closing an idle stream. Default 15 s. */
  readonly heartbeatMs?: number;
  /** Streams open at once; one more is answered 503. Default 100. */
  readonly maxSubscribers?: number;
  /** Bytes a subscriber may leave unread before it is dropped (it reconnects and starts afresh). Default 1 MiB. */
  readonly maxBufferedBytes?: number;
}

/**
 * The console's live feed and its charts' history: `GET /api/v1/events` (server-sent events:
 * `groups` and `point` after each lag collection, `autoscaler` after each decision) and
 * `GET /api/v1/history?group=`.
 */
export function registerLiveRoutes(app: FastifyInstance, options: LiveRoutesOptions): void {
  const { monitor, autoscaler, history } = options;
  const clients = new Set<FastifyReply>();
  const maxSubscribers = options.maxSubscribers ?? 100;
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  /** Writes, or drops a reader that leaves too much unread: a slow client must not grow the server's memory. */
  const write = (reply: FastifyReply, text: string): void => {
    if (reply.raw.writableLength > maxBufferedBytes) {
      clients.delete(reply);
      reply.raw.destroy();
      return;
    }
    reply.raw.write(text);
  };
  const send = (reply: FastifyReply, event: string, data: unknown): void => write(reply, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const broadcast = (event: string, data: unknown): void => {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const reply of clients) write(reply, text);
  };

  monitor.on('snapshot', (snapshot) => {
    const replicas = autoscaler
      ? { group: autoscaler.group, currentReplicas: autoscaler.currentReplicas, desiredReplicas: autoscaler.lastDecision?.desiredReplicas ?? null }
      : null;
    const added = history.record(snapshot, replicas);
    if (clients.size === 0) return;
    broadcast('groups', groupsResponse(snapshot));
    for (const point of added) broadcast('point', point);
  });
  autoscaler?.on('decision', () => {
    if (clients.size > 0) broadcast('autoscaler', autoscalerState(autoscaler));
  });
  const heartbeat = setInterval(() => {
    for (const reply of clients) write(reply, ': keep-alive\n\n');
  }, options.heartbeatMs ?? 15_000);
  heartbeat.unref();
  app.addHook('onClose', async () => {
    clearInterval(heartbeat);
    for (const reply of clients) reply.raw.end();
    clients.clear();
  });

  app.get('/api/v1/events', (request, reply) => {
    if (clients.size >= maxSubscribers) {
      reply.code(503).header('retry-after', '5');
      return reply.send({ error: 'too_many_subscribers', message: `${maxSubscribers} live feeds are open already; close one, or retry in a few seconds` });
    }
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // A reconnecting browser waits this long (ms) before trying again.
    reply.raw.write('retry: 2000\n\n');
    clients.add(reply);
    request.raw.on('close', () => clients.delete(reply));
    // The current state first, so a new page is complete without waiting for the next cycle.
    if (monitor.latest) send(reply, 'groups', groupsResponse(monitor.latest));
    if (autoscaler) send(reply, 'autoscaler', autoscalerState(autoscaler));
  });

  app.get<{ Querystring: { group: string } }>(
    '/api/v1/history',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { group: { type: 'string', minLength: 1, maxLength: 249 } },
          required: ['group'],
          additionalProperties: false,
        },
      },
    },
    async (request) => ({ group: request.query.group, points: history.points(request.query.group) }),
  );
}
