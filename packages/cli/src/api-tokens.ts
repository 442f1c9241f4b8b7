import { ApiConfigError, type ApiToken, checkApiTokens, parseApiTokens } from '@lagscale/exporter';
import { ConfigError, type LagscaleConfig } from './config.js';

/** Tokens from `LAGSCALE_API_TOKENS`, else from the config file's `api.tokens`; a bad entry is a config error. */
export function apiTokens(config: LagscaleConfig, env: NodeJS.ProcessEnv = process.env): ApiToken[] {
  try {
    if (env.LAGSCALE_API_TOKENS !== undefined && env.LAGSCALE_API_TOKENS.trim() !== '') return parseApiTokens(env.LAGSCALE_API_TOKENS);
    return checkApiTokens(config.api?.tokens ?? [], 'config file api.tokens');
  } catch (error) {
    if (error instanceof ApiConfigError) throw new ConfigError(error.message);
    throw error;
  }
}
