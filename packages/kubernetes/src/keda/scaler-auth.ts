/**
 * Who may ask the external scaler: callers holding a token, and/or (external-scaler-server.ts)
 * callers presenting a client certificate signed by the scaler's CA.
 *
 * KEDA's gRPC client sends no call headers of its own; it authenticates with TLS client
 * certificates (TriggerAuthentication `tlsClientCert`/`tlsClientKey`/`caCert`). A token reaches the
 * scaler either as gRPC metadata `authorization: Bearer <token>` (other clients, proxies) or as the
 * trigger metadata key `scalerTokenFromEnv`, which KEDA replaces with the value of that environment
 * variable of the scale target's container (so it can come from a Secret there).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/** The token itself (prefer the file: a mounted Secret can be rotated without a restart). */
export const SCALER_TOKEN_ENV = 'LAGSCALE_KEDA_SCALER_TOKEN';
/** A file with the accepted tokens, one a line. */
export const SCALER_TOKEN_FILE_ENV = 'LAGSCALE_KEDA_SCALER_TOKEN_FILE';
/** The trigger metadata key that carries a token; never a policy parameter, never part of a fingerprint. */
export const SCALER_TOKEN_METADATA_KEY = 'scalerTokenFromEnv';
/** Shorter tokens are refused at start: a guessable token is no authentication. */
export const MIN_SCALER_TOKEN_LENGTH = 16;
/** How often the token file is checked for a change (a rotated Secret). */
const TOKEN_FILE_CHECK_MS = 10_000;

export interface ExternalScalerAuth {
  /** Accepted tokens. */
  readonly tokens?: readonly string[];
  /** A file of accepted tokens, one a line (two during a rotation); re-read when it changes. */
  readonly tokenFile?: string;
}

/** `LAGSCALE_KEDA_SCALER_TOKEN_FILE` and `LAGSCALE_KEDA_SCALER_TOKEN`, when set. */
export function scalerAuthFromEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): ExternalScalerAuth {
  const tokenFile = env[SCALER_TOKEN_FILE_ENV]?.trim();
  const token = env[SCALER_TOKEN_ENV]?.trim();
  return { ...(tokenFile ? { tokenFile } : {}), ...(token ? { tokens: [token] } : {}) };
}

function parseTokens(text: string, where: string): string[] {
  const tokens: string[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const token = raw.trim();
    if (token === '') continue;
    if (/\s/.test(token)) throw new Error(`${where}, line ${index + 1}: a token holds no spaces; put one token on a line`);
    if (token.length < MIN_SCALER_TOKEN_LENGTH) {
      throw new Error(`${where}, line ${index + 1}: a token must be at least ${MIN_SCALER_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)`);
    }
    tokens.push(token);
  }
  return tokens;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** `Bearer <token>` (scheme case-insensitive) → the token; anything else → null. */
export function bearerToken(authorization: string | undefined): string | null {
  const match = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  return match?.[1] ?? null;
}

/** The accepted tokens, compared in constant time; the file (if any) re-read when it changes. */
export class ScalerTokens {
  #fixed: Buffer[];
  #fromFile: Buffer[] = [];
  #fileStamp = '';
  #checkedAt = 0;
  readonly #file: string | undefined;
  readonly #now: () => number;
  readonly #onReloadFailure: (message: string) => void;

  /** Throws when the configured tokens are unusable (unreadable or empty file, short token): better no start than no check. */
  constructor(auth: ExternalScalerAuth, options: { readonly now?: () => number; readonly onReloadFailure?: (message: string) => void } = {}) {
    this.#now = options.now ?? Date.now;
    this.#onReloadFailure = options.onReloadFailure ?? (() => {});
    this.#fixed = parseTokens((auth.tokens ?? []).join('\n'), 'auth.tokens').map(digest);
    this.#file = auth.tokenFile;
    if (this.#file !== undefined) {
      const problem = this.#load();
      if (problem !== null) throw new Error(problem);
    }
  }

  /** True when callers must present a token. */
  get required(): boolean {
    return this.#fixed.length > 0 || this.#file !== undefined;
  }

  matches(given: string): boolean {
    this.#maybeReload();
    const candidate = digest(given);
    let found = false;
    // Every token compared, equal-length digests: the time taken says nothing about which or how much matched.
    for (const token of [...this.#fixed, ...this.#fromFile]) found = timingSafeEqual(candidate, token) || found;
    return found;
  }

  #maybeReload(): void {
    if (this.#file === undefined || this.#now() - this.#checkedAt < TOKEN_FILE_CHECK_MS) return;
    const problem = this.#load();
    // Keep the tokens read last: a Secret briefly missing while it is replaced must not lock KEDA out.
    if (problem !== null) this.#onReloadFailure(`${problem}; still accepting the tokens read before`);
  }

  /** Reads the file if it changed; the problem (kept tokens unchanged) or null. */
  #load(): string | null {
    const file = this.#file as string;
    this.#checkedAt = this.#now();
    try {
      const stat = statSync(file);
      const stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
      if (stamp === this.#fileStamp) return null;
      const tokens = parseTokens(readFileSync(file, 'utf8'), `token file ${file}`);
      if (tokens.length === 0) return `token file ${file}: no token in it (one a line)`;
      this.#fromFile = tokens.map(digest);
      this.#fileStamp = stamp;
      return null;
    } catch (error) {
      const message = (error as Error).message;
      return message.startsWith('token file') ? message : `token file ${file}: cannot read it: ${message}`;
    }
  }
}
