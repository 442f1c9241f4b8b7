import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ApiToken,
  type ResultStore,
  registerApiAuth,
  registerApiErrorHandler,
  registerOpenApi,
  registerValidatorApi,
  SqliteResultStore,
  type ValidatorApiOptions,
} from '@lagscale/validator';
import Fastify, { type FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import type {} from '../../../../test-support/global-services.js';
import { openSearchTestStore } from '../store/refreshed.js';

export { ordersRuleSet } from '../worker/order-records.js';

export function tempStore(): SqliteResultStore {
  return SqliteResultStore.open(join(mkdtempSync(join(tmpdir(), 'lagscale-api-')), 'results.db'));
}

/** The stores the API tests run on: the API must answer the same on either. */
export const API_STORES = ['SQLite', 'OpenSearch'] as const;
export type ApiStoreKind = (typeof API_STORES)[number];

/** An empty store of that kind: a SQLite file in a temp dir, or fresh indices on the shared OpenSearch node. */
export async function emptyStore(kind: ApiStoreKind): Promise<ResultStore> {
  return kind === 'SQLite' ? tempStore() : openSearchTestStore(inject('openSearchUrl'));
}

/** The app as `lagscale api` builds it: error bodies and 404s, the OpenAPI document, tokens, then the routes. */
export async function buildApi(
  options: ValidatorApiOptions & {
    tokens?: readonly ApiToken[];
    allowedHosts?: readonly string[];
    routes?: string[];
    /** More routes, added last (before the app is ready). */
    more?: (app: FastifyInstance) => void;
  },
): Promise<FastifyInstance> {
  // A client may open a connection and never send a request on it (fetch does, around an aborted
  // upload): close such connections too instead of waiting for the server's timeouts.
  const app = Fastify({ logger: false, forceCloseConnections: true });
  const routes = options.routes;
  if (routes !== undefined)
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) routes.push(`${method} ${route.url}`);
    });
  registerApiErrorHandler(app);
  await registerOpenApi(app);
  registerApiAuth(app, { tokens: options.tokens ?? [], ...(options.allowedHosts === undefined ? {} : { allowedHosts: options.allowedHosts }) });
  app.get('/healthz', { config: { scope: 'none' } }, async () => ({ status: 'ok' }));
  await registerValidatorApi(app, options);
  options.more?.(app);
  await app.ready();
  return app;
}

/** A small rule set: an id, an e-mail pattern, an amount range (warning), and a unique id. */
export function smallRuleSet(name: string, version?: number): Record<string, unknown> {
  return {
    name,
    ...(version === undefined ? {} : { version }),
    rules: [
      { id: 'id.required', severity: 'error', type: 'required', field: '/id' },
      { id: 'email.format', severity: 'error', type: 'pattern', field: '/email', pattern: '[^@ ]+@[^@ ]+', message: 'is not an e-mail address' },
      { id: 'amount.range', severity: 'warning', type: 'range', field: '/amount', min: 0, max: 1000 },
      { id: 'id.unique', severity: 'error', type: 'unique', field: '/id' },
    ],
  };
}

export const ERROR_BODY_KEYS = ['error', 'message'];

/** An HTTP request with the path and headers exactly as given (fetch and inject normalise paths and set Host). */
export function rawRequest(options: {
  readonly host?: string;
  readonly port: number;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const sent = request(
      // A connection of its own: after a malformed request the server closes it.
      {
        host: options.host ?? '127.0.0.1',
        port: options.port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers ?? {},
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: response.headers }));
        response.on('error', reject);
      },
    );
    sent.on('error', reject);
    sent.end(options.body);
  });
}
