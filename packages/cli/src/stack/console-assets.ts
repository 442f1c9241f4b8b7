import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where `npm run build` puts the console (packages/console/dist), seen from this file in packages/cli/dist/stack. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

/** Paths the API owns: a miss there is a JSON 404, never the console's page. */
const API_PREFIXES = ['/api/', '/openapi.json', '/metrics', '/prometheus/', '/healthz', '/readyz'];

/**
 * Serves the built console at `/` and answers unknown non-API GETs with its index.html, so a
 * browser reload on `/groups/validator` opens that page. Without a build it serves a page that
 * says how to make one.
 */
export async function registerConsoleAssets(app: FastifyInstance, root = CONSOLE_DIST): Promise<{ built: boolean }> {
  const built = existsSync(join(root, 'index.html'));
  if (built) await app.register(fastifyStatic, { root, index: ['index.html'] });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const api = API_PREFIXES.some((prefix) => path === prefix.replace(/\/$/, '') || path.startsWith(prefix));
    if (api || request.method !== 'GET') {
      reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${path}; the API is described at /openapi.json` });
      return;
    }
    if (!built) {
      reply
        .code(503)
        .type('text/html; charset=utf-8')
        .send('<!doctype html><title>lagscale</title><p>The console is not built. Run <code>npm run build</code>, then reload.</p>');
      return;
    }
    reply.type('text/html; charset=utf-8').sendFile('index.html');
  });
  return { built };
}
