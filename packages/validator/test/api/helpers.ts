import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ApiToken,
  registerApiAuth,
  registerApiErrorHandler,
  registerOpenApi,
  registerValidatorApi,
  SqliteResultStore,
  type ValidatorApiOptions,
} from '@lagscale/validator';
import Fastify, { type FastifyInstance } from 'fastify';

export const ordersRuleSet = JSON.parse(readFileSync(fileURLToPath(new URL('../../examples/orders.ruleset.json', import.meta.url)), 'utf8')) as {
  name: string;
  version: number;
};

export function tempStore(): SqliteResultStore {
  return SqliteResultStore.open(join(mkdtempSync(join(tmpdir(), 'lagscale-api-')), 'results.db'));
}

/** The app as `lagscale api` builds it: error bodies and 404s, the OpenAPI document, tokens, then the routes. */
export async function buildApi(options: ValidatorApiOptions & { tokens?: readonly ApiToken[]; routes?: string[] }): Promise<FastifyInstance> {
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
  registerApiAuth(app, { tokens: options.tokens ?? [] });
  app.get('/healthz', { config: { scope: 'none' } }, async () => ({ status: 'ok' }));
  await registerValidatorApi(app, options);
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
