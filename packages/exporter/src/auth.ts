import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * API tokens (docs/http-api.md, "Authentication"): `Authorization: Bearer <secret>`, each token
 * with a scope; `read` < `write` < `admin`, each including the ones before. Without tokens a
 * server serves loopback clients only. Shared by every lagscale server that checks tokens (the
 * validation API, the local stack, `lagscale exporter`); the validator re-exports it.
 */
export const API_SCOPES = ['read', 'write', 'admin'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** What a route needs: a scope, or `none` for a route open to anyone (health checks). */
export type RouteScope = ApiScope | 'none';

export interface ApiToken {
  /** For logs and messages; never the secret. */
  readonly name: string;
  readonly scope: ApiScope;
  readonly secret: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a route needs (default: `read` for GET and HEAD, `write` otherwise, for routes under /api/). */
    scope?: RouteScope;
  }
  interface FastifyRequest {
    /** The token that authenticated the request, when tokens are configured. */
    apiToken?: { readonly name: string; readonly scope: ApiScope } | undefined;
  }
}

/** A token configuration that cannot be used; the message says which entry and what to fix, never a secret. */
export class ApiConfigError extends Error {
  override readonly name = 'ApiConfigError';
  readonly code = 'API_CONFIG';
}

const RANK: Record<ApiScope, number> = { read: 1, write: 2, admin: 3 };
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const MIN_SECRET_LENGTH = 16;

/**
 * `name:scope:secret` entries separated by commas (the format of `LAGSCALE_API_TOKENS`); the
 * secret is everything after the second colon. Throws `ApiConfigError` naming the entry.
 */
export function parseApiTokens(text: string, source = 'LAGSCALE_API_TOKENS'): ApiToken[] {
  const tokens: ApiToken[] = [];
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  entries.forEach((entry, index) => {
    const first = entry.indexOf(':');
    const second = first < 0 ? -1 : entry.indexOf(':', first + 1);
    if (second < 0) throw new ApiConfigError(`${source} entry ${index + 1} is not name:scope:secret (it has ${first < 0 ? 'no' : 'one'} colon)`);
    tokens.push({ name: entry.slice(0, first), scope: entry.slice(first + 1, second) as ApiScope, secret: entry.slice(second + 1) });
  });
  return checkApiTokens(tokens, source);
}

/** Checks tokens from any source (the env var, the config file): names, scopes, secret lengths, no repeats. */
export function checkApiTokens(tokens: readonly ApiToken[], source: string): ApiToken[] {
  const names = new Set<string>();
  const secrets = new Set<string>();
  tokens.forEach((token, index) => {
    const where = `${source} token ${index + 1}${typeof token.name === 'string' && NAME.test(token.name) ? ` ("${token.name}")` : ''}`;
    if (typeof token.name !== 'string' || !NAME.test(token.name))
      throw new ApiConfigError(`${where}: the name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
    if (!API_SCOPES.includes(token.scope)) throw new ApiConfigError(`${where}: the scope is ${JSON.stringify(token.scope)}; it must be read, write or admin`);
    if (typeof token.secret !== 'string' || token.secret.length < MIN_SECRET_LENGTH || /\s/.test(token.secret))
      throw new ApiConfigError(
        `${where}: the secret must be at least ${MIN_SECRET_LENGTH} characters without spaces (e.g. the output of \`openssl rand -hex 24\`)`,
      );
    if (names.has(token.name)) throw new ApiConfigError(`${where}: the name is used by another token`);
    if (secrets.has(token.secret)) throw new ApiConfigError(`${where}: the secret is used by another token; give each token its own`);
    names.add(token.name);
    secrets.add(token.secret);
  });
  return tokens.map((token) => ({ name: token.name, scope: token.scope, secret: token.secret }));
}

/** True for `localhost`, 127.0.0.0/8, `::1` and IPv4-mapped 127.x addresses. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost') return true;
  const mapped = bare.toLowerCase().startsWith('::ffff:') ? bare.slice(7) : bare;
  if (isIP(mapped) === 4) return mapped.startsWith('127.');
  if (isIP(bare) !== 6) return false;
  // The URL parser writes an IPv6 address in its shortest form: ::1 however it was spelled.
  const hostname = new URL(`http://[${bare}]`).hostname;
  return hostname === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(hostname);
}

/**
 * Refuses to serve beyond loopback without tokens; call it before `listen`. `server` names what
 * would be served ("the API"), `exposure` what anyone who can reach the address could then do.
 */
export function assertTokensBeyondLoopback(host: string, tokens: readonly ApiToken[], server: string, exposure: string): void {
  if (tokens.length > 0 || isLoopbackHost(host)) return;
  throw new ApiConfigError(
    `refusing to serve ${server} on ${host} without API tokens: anyone who can reach it could ${exposure}. ` +
      'Configure tokens (LAGSCALE_API_TOKENS=name:scope:secret,... with scopes read, write, admin; or api.tokens in the config file), ' +
      'or listen on 127.0.0.1',
  );
}

export interface ApiAuthOptions {
  /** Empty: no token needed, and only loopback clients are served. */
  readonly tokens: readonly ApiToken[];
  /**
   * Host names (without port) the server answers besides loopback ones, when it has no tokens;
   * a request naming another Host is refused (a DNS-rebinding page names its own). With tokens
   * any Host is served: every protected route needs a token then.
   */
  readonly allowedHosts?: readonly string[];
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * An onRequest hook that guards every route:
 * - The scope is decided by the route the router matched, never by how the client spelled the
 *   path (`/%61pi/v1/jobs` is the route `/api/v1/jobs`): a route whose pattern is under `/api`
 *   needs `read` for GET and HEAD and `write` otherwise, unless it declares `config.scope`;
 *   `config: { scope: 'none' }` makes a route public. Routes outside `/api` (metrics, health, the
 *   console's files) are public unless they declare a scope.
 * - A state-changing request from a browser page of another origin is refused (`Origin` or
 *   `Sec-Fetch-Site` say so), tokens or not: with no tokens a page the user visits could
 *   otherwise pause the autoscaler or submit a job.
 * - Without tokens, a `Host` that is not a loopback name (or one of `allowedHosts`) is refused.
 * Register it on the root instance before the routes.
 */
export function registerApiAuth(app: FastifyInstance, options: ApiAuthOptions): void {
  const tokens = checkApiTokens(options.tokens, 'the API options');
  const byDigest = new Map(tokens.map((token) => [digest(token.secret), token]));
  const allowedHosts = new Set((options.allowedHosts ?? []).map((host) => host.toLowerCase()));
  app.decorateRequest('apiToken', undefined);
  app.addHook('onRequest', async (request, reply) => {
    if (tokens.length === 0) {
      const host = hostName(request.headers.host);
      if (host === null || !(isLoopbackHost(host) || allowedHosts.has(host)))
        return refuse(
          reply,
          421,
          'host_not_allowed',
          `this server has no API tokens, so it answers only requests for its loopback names (localhost, 127.0.0.1, [::1]); Host ${JSON.stringify(request.headers.host ?? '')} is not one: use one of those, or configure tokens`,
        );
    }
    if (!SAFE_METHODS.has(request.method)) {
      const crossSite = crossOrigin(request.headers.origin, request.headers.host, request.headers['sec-fetch-site']);
      if (crossSite !== null)
        return refuse(
          reply,
          403,
          'cross_origin',
          `${request.method} requests from another site are refused (${crossSite}); send them from the console or a client that is not a browser page`,
        );
    }
    const declared = request.routeOptions.config?.scope;
    if (declared === 'none') return;
    // The pattern of the matched route (undefined when none matched: the not-found handler answers).
    const route = request.routeOptions.url;
    // The matched route decides; the path as spelled may only add a need (`//api/...` reaching a catch-all route).
    const underApi = (route !== undefined && isApiPath(route)) || isApiPath(request.url);
    if (declared === undefined && !underApi) return;
    const needed: ApiScope = declared ?? (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write');
    if (tokens.length === 0) {
      if (isLoopbackAddress(request.socket?.localAddress)) return;
      return refuse(reply, 401, 'unauthorized', 'this server has no API tokens, so it answers loopback clients only: configure tokens to serve others');
    }
    const header = request.headers.authorization;
    if (header === undefined || header === '') return refuse(reply, 401, 'unauthorized', 'this route needs an API token: send "Authorization: Bearer <token>"');
    const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
    if (match === null) return refuse(reply, 401, 'unauthorized', 'the Authorization header must be "Bearer <token>"');
    const token = byDigest.get(digest(match[1] as string));
    if (token === undefined) return refuse(reply, 401, 'unauthorized', 'unknown API token: check the token, or ask for one');
    if (RANK[token.scope] < RANK[needed])
      return refuse(
        reply,
        403,
        'forbidden',
        `token "${token.name}" has scope ${token.scope}; ${request.method} ${route ?? request.url.split('?')[0]} needs scope ${needed}`,
      );
    request.apiToken = { name: token.name, scope: token.scope };
  });
}

/**
 * Whether a path is under `/api`, spelled any way a router or proxy might read it: percent-decoded
 * (repeatedly), slashes collapsed, dot segments resolved, any case. Used for requests that matched
 * no route: their 404 needs a token too, so nothing is told about the API without one.
 */
function isApiPath(url: string): boolean {
  let path = url.split('?')[0] ?? '';
  for (let i = 0; i < 3 && path.includes('%'); i++) {
    try {
      path = decodeURIComponent(path);
    } catch {
      break;
    }
  }
  path = path.replaceAll('\\', '/').replace(/\/{2,}/g, '/');
  try {
    path = new URL(path.startsWith('/') ? path : `/${path}`, 'http://host').pathname;
  } catch {
    return true;
  }
  path = path.toLowerCase();
  return path === '/api' || path.startsWith('/api/');
}

/** The host name of a Host header, lower case, without port or IPv6 brackets' content changed; null when absent or malformed. */
function hostName(header: string | undefined): string | null {
  if (header === undefined || header === '') return null;
  try {
    const url = new URL(`http://${header}`);
    if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') return null;
    return url.hostname.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * Why a state-changing request comes from a page of another origin, or null when it does not:
 * browsers send `Origin` on every cross-origin POST (and `null` from sandboxed or local pages),
 * and `Sec-Fetch-Site` on every request. A request with neither is not a browser page's.
 */
function crossOrigin(origin: string | undefined, host: string | undefined, fetchSite: string | string[] | undefined): string | null {
  if (fetchSite === 'cross-site' || fetchSite === 'same-site') return `Sec-Fetch-Site: ${fetchSite}`;
  if (origin === undefined) return null;
  if (origin === 'null') return 'Origin: null';
  try {
    const from = new URL(origin);
    if (host !== undefined && from.host.toLowerCase() === new URL(`http://${host}`).host.toLowerCase()) return null;
  } catch {
    return `Origin ${JSON.stringify(origin)} is not a URL`;
  }
  return `Origin ${origin} is not this server`;
}

/** The refusal in lagscale's error body shape (`{ error, message }`), as the API's other errors. */
function refuse(reply: FastifyReply, status: 401 | 403 | 421, code: string, message: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).type('application/json; charset=utf-8').send({ error: code, message });
}

/** Tokens are looked up by the SHA-256 of their secret: a lookup's timing tells nothing useful about a secret. */
function digest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64');
}

/** The server's side of the connection; undefined for requests injected in-process. */
function isLoopbackAddress(address: string | undefined): boolean {
  return address === undefined || isLoopbackHost(address);
}
