import { ApiException } from '@kubernetes/client-node';

export interface RetryOptions {
  /** Attempts in all, the first included. Default 4. */
  readonly attempts?: number;
  /** First wait; doubled per attempt, with jitter. Default 200 ms. */
  readonly baseDelayMs?: number;
  /** Longest wait between attempts. Default 5 s. */
  readonly maxDelayMs?: number;
}

/** HTTP statuses worth another try: a conflict (re-read and write again), throttling, a server that is busy or restarting. */
const RETRIED = new Set([409, 429, 500, 502, 503, 504]);

/** Whether an API call failed in a way another attempt may fix (a network error, or one of RETRIED). */
export function isRetriable(error: unknown): boolean {
  if (error instanceof ApiException) return RETRIED.has(error.code);
  // Network errors from fetch: the API server restarting, a connection reset.
  const code = (error as { code?: unknown; cause?: { code?: unknown } })?.cause?.code ?? (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR_\w+)$/.test(code);
}

/** Runs `call`, again after a backoff while it fails retriably; the last failure is thrown. Honours `Retry-After` on 429. */
export async function retryKubernetes<T>(call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 4;
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || !isRetriable(error)) throw error;
      const retryAfter = error instanceof ApiException ? Number(error.headers?.['retry-after']) : Number.NaN;
      const backoff = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      const delay = Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(max, retryAfter * 1000) : backoff;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
