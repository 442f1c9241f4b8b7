import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type ServerOptions as HttpServerOptions,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';

/**
 * Sent on every response of every lagscale server (console, API, /metrics, health, the live feed,
 * errors): no page of another origin may frame one (clickjacking: a framed console whose button
 * a click replays), guess a type, learn our URLs from a Referer, or keep a handle on our window.
 * The policy forbids everything a document could load: a JSON body or an error page needs nothing.
 * The console's files answer with their own policy (packages/cli/src/stack/console-assets.ts).
 */
export const BROWSER_HEADERS: Readonly<Record<string, string>> = {
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

const HEADER_ENTRIES = Object.entries(BROWSER_HEADERS);

/** The headers as raw HTTP lines (`Name: value\r\n` each), for answers written straight to a socket. */
export const BROWSER_HEADER_LINES = HEADER_ENTRIES.map(([name, value]) => `${name}: ${value}\r\n`).join('');

/** The fastify options the factory reads (fastify passes all of them, defaults filled in). */
interface FactoryOptions {
  readonly https?: HttpsServerOptions | true | null;
  readonly http?: HttpServerOptions | null;
  readonly keepAliveTimeout?: number;
  readonly requestTimeout?: number;
  readonly connectionTimeout?: number;
  readonly maxRequestsPerSocket?: number | null;
}

/**
 * A fastify `serverFactory` that sets `BROWSER_HEADERS` on each response before fastify sees the
 * request: they are on every answer, including the ones no hook runs for (a URL the router
 * cannot read, a hijacked reply such as the live feed); a route may still replace one
 * (`reply.header`). It builds the server as fastify would (HTTP, or HTTPS when `https` is set,
 * with fastify's timeouts); lagscale serves no HTTP/2.
 *
 * Generic in the server type because fastify's types pick it from the other options (`https`):
 * the server made is an HTTPS one exactly when they ask for one.
 */
export function browserHeadersServerFactory<RawServer extends HttpServer>(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  options: Record<string, unknown>,
): RawServer {
  const settings = options as FactoryOptions;
  const withHeaders = (request: IncomingMessage, response: ServerResponse): void => {
    for (const [name, value] of HEADER_ENTRIES) response.setHeader(name, value);
    handler(request, response);
  };
  const tls = settings.https === true ? {} : settings.https;
  const server: HttpServer = tls ? createHttpsServer(tls, withHeaders) : createHttpServer(settings.http ?? {}, withHeaders);
  if (settings.keepAliveTimeout !== undefined) server.keepAliveTimeout = settings.keepAliveTimeout;
  if (settings.requestTimeout !== undefined) server.requestTimeout = settings.requestTimeout;
  if (settings.connectionTimeout !== undefined) server.setTimeout(settings.connectionTimeout);
  if (typeof settings.maxRequestsPerSocket === 'number' && settings.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = settings.maxRequestsPerSocket;
  return server as RawServer;
}
