import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Where `npm run build` puts the console (packages/console/dist), seen from this file in packages/cli/dist/stack. */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../console/dist/', import.meta.url));

/**
 * The console's Content-Security-Policy: its own scripts, styles and API only; no framing by any
 * page (clickjacking), no plugins, no `<base>`. The built console has no inline script or style
 * (Vite writes both to files; React and Recharts set styles through the DOM's style properties,
 * which CSP does not govern), so 'unsafe-inline' is not needed; `data:` images for the charts'
 * and browsers' own small images. Every other response gets the stricter BROWSER_HEADERS policy.
 */
export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Source maps are served only when asked for: `LAGSCALE_CONSOLE_SOURCEMAPS=1` both when the
 * console is built (packages/console/vite.config.ts writes them then) and where it is served. A
 * map gives anyone the console's source; a build copied with its maps does not publish them.
 */
export function consoleSourceMapsWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.LAGSCALE_CONSOLE_SOURCEMAPS === '1';
}

/** Paths the API owns: a miss there is a JSON 404, never the console's page. */
const API_PREFIXES = ['/api/', '/openapi.json', '/metrics', '/prometheus/', '/healthz', '/readyz'];

/**
 * Serves the built console at `/` and answers unknown non-API GETs with its index.html, so a
 * browser reload on `/groups/validator` opens that page. Without a build it serves a page that
 * says how to make one. Its files carry the console's policy; `.map` files answer 404 unless
 * source maps were asked for.
 */
export async function registerConsoleAssets(
  app: FastifyInstance,
  root = CONSOLE_DIST,
  options: { readonly sourceMaps?: boolean } = {},
): Promise<{ built: boolean }> {
  const built = existsSync(join(root, 'index.html'));
  const sourceMaps = options.sourceMaps ?? consoleSourceMapsWanted();
  const isSourceMap = (path: string): boolean => path.toLowerCase().endsWith('.map');
  if (built)
    await app.register(fastifyStatic, {
      root,
      index: ['index.html'],
      allowedPath: (path) => sourceMaps || !isSourceMap(path),
      setHeaders: (response) => {
        response.setHeader('content-security-policy', CONSOLE_CONTENT_SECURITY_POLICY);
      },
    });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    const api = API_PREFIXES.some((prefix) => path === prefix.replace(/\/$/, '') || path.startsWith(prefix));
    // A missing file is not a page: a map (absent, or not served) answers 404, not index.html.
    if (api || request.method !== 'GET' || isSourceMap(path)) {
      reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${path}; the API is described at /openapi.json` });
      return;
    }
    reply.header('content-security-policy', CONSOLE_CONTENT_SECURITY_POLICY);
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
