import { type ApiToken, assertTokensBeyondLoopback } from '@lagscale/exporter';

/**
 * API tokens (docs/http-api.md, "Authentication"): the token and Host checks live in
 * @lagscale/exporter, so that `lagscale exporter`, lower in the dependency graph, follows the same
 * rules as the API; the validator's users keep importing them from here.
 */
export {
  API_SCOPES,
  type ApiAuthOptions,
  ApiConfigError,
  type ApiScope,
  type ApiToken,
  checkApiTokens,
  isLoopbackHost,
  MIN_SECRET_LENGTH,
  parseApiTokens,
  type RouteScope,
  registerApiAuth,
} from '@lagscale/exporter';

/**
 * Refuses to serve the API beyond loopback without tokens: anyone who could reach the address
 * could change rule sets and submit jobs. Call it before `listen`.
 */
export function assertApiListenAllowed(host: string, tokens: readonly ApiToken[]): void {
  assertTokensBeyondLoopback(host, tokens, 'the API', 'change rule sets and submit jobs');
}
