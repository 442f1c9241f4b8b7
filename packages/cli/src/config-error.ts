/** A mistake in the configuration (file, env var or flag): start-up stops with exit 2 and this message. */
export class ConfigError extends Error {
  readonly code = 'LAGSCALE_CONFIG';
}
