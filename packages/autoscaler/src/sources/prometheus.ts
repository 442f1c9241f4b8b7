/**
 * The I/O half of the `prometheus` source: an HTTP(S) client for Prometheus' instant-query API
 * (`GET /api/v1/query`) and a poller that runs the query every `pollingInterval` seconds and
 * hands each value to the autoscaler. Every failure (no answer, a timeout, an HTTP error, an
 * answer KEDA's rules refuse) is emitted as an `error`: the autoscaler counts it as a failed
 * metric read, holds the replicas and falls back after `fallback.failureThreshold` of them.
 * The rules themselves (config, URL, result → value → replicas) are pure, in @lagscale/core.
 */

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type ExternalMetricReading, type PrometheusSourceConfig, prometheusQueryUrl, prometheusQueryValue } from '@lagscale/core';

/** A query that could not be run or answered (network, timeout, HTTP status, unreadable body). */
export class PrometheusQueryError extends Error {
  readonly code = 'LAGSCALE_PROMETHEUS_QUERY';
}

// A scalar or one series is a few hundred bytes; a runaway query returning every series is not worth reading.
const MAX_BODY_BYTES = 8 * 1024 * 1024;

function readPem(path: string | null, what: string): Buffer | undefined {
  if (path === null) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new PrometheusQueryError(`cannot read the prometheus source's ${what} ${path}: ${(error as Error).message}`);
  }
}

/** Runs the configured instant query; one call, one HTTP request. */
export class PrometheusQueryClient {
  readonly config: PrometheusSourceConfig;
  readonly #tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };

  /** Reads the TLS files now, so a wrong path stops start-up rather than every cycle. */
  constructor(config: PrometheusSourceConfig) {
    this.config = config;
    const ca = readPem(config.tls.ca, 'tls.ca');
    const cert = readPem(config.tls.cert, 'tls.cert');
    const key = readPem(config.tls.key, 'tls.key');
    this.#tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'lagscale-autoscaler', ...this.config.customHeaders };
    const auth = this.config.auth;
    if (auth.mode === 'bearer') {
      // Read per query: a mounted service-account token is rotated under us.
      let token = auth.bearerToken;
      if (auth.bearerTokenFile !== null) {
        try {
          token = readFileSync(auth.bearerTokenFile, 'utf8').trim();
        } catch (error) {
          throw new PrometheusQueryError(`cannot read auth.bearerTokenFile ${auth.bearerTokenFile}: ${(error as Error).message}`);
        }
      }
      headers.authorization = `Bearer ${token ?? ''}`;
    } else if (auth.mode === 'basic') {
      headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    } else if (auth.mode === 'custom') {
      headers[auth.customAuthHeader] = auth.customAuthValue;
    }
    return headers;
  }

  /** The parsed JSON body of a 2xx answer. Throws PrometheusQueryError for anything else. */
  async queryBody(time = Date.now()): Promise<unknown> {
    const url = prometheusQueryUrl(this.config, time);
    const headers = this.#headers();
    const where = `${this.config.serverAddress}/api/v1/query`;
    const timeout = this.config.timeout;
    const response = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const options = { method: 'GET', headers, signal: AbortSignal.timeout(timeout) };
      const onResponse = (res: IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            res.destroy(new PrometheusQueryError(`the answer of ${where} is larger than ${MAX_BODY_BYTES} bytes; the query must return one series`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      };
      const req =
        url.protocol === 'https:'
          ? httpsRequest(url, { ...options, ...this.#tls, rejectUnauthorized: !this.config.unsafeSsl }, onResponse)
          : httpRequest(url, options, onResponse);
      req.on('error', reject);
      req.end();
    }).catch((error: Error & { code?: string }) => {
      if (error instanceof PrometheusQueryError) throw error;
      if (error.name === 'TimeoutError' || error.name === 'AbortError') {
        throw new PrometheusQueryError(`no answer from ${where} within ${timeout} ms (timeout)`);
      }
      throw new PrometheusQueryError(`cannot query ${where}: ${error.code ?? error.name} ${error.message}`);
    });
    let body: unknown;
    try {
      body = JSON.parse(response.text);
    } catch {
      body = undefined;
    }
    if (response.status < 200 || response.status > 299) {
      // Prometheus explains a refused query in the body ({ errorType, error }); keep its words.
      const explained =
        typeof body === 'object' && body !== null && 'error' in body
          ? `${String((body as { errorType?: unknown }).errorType ?? 'error')}: ${String((body as { error: unknown }).error)}`
          : response.text.slice(0, 200).trim();
      throw new PrometheusQueryError(`${where} answered HTTP ${response.status}${explained === '' ? '' : ` (${explained})`}`);
    }
    if (body === undefined)
      throw new PrometheusQueryError(`${where} answered HTTP ${response.status} with a body that is not JSON: ${response.text.slice(0, 200)}`);
    return body;
  }

  /** One value with KEDA's rules (ScalingMetricUnavailableError where KEDA's read fails). */
  async read(time = Date.now()): Promise<MetricReading> {
    const body = await this.queryBody(time);
    const value = prometheusQueryValue(body, this.config);
    return { time, source: 'prometheus', value: value.value, description: value.description };
  }
}

/** One value of a source that is not the lag engine, at one instant. */
export interface MetricReading extends ExternalMetricReading {
  /** Milliseconds since the epoch: when the query was evaluated. */
  readonly time: number;
}

export interface PrometheusSourceEvents {
  reading: [MetricReading];
  error: [Error];
}

/**
 * Runs the query every `pollingInterval` seconds (the first at start) and emits each value or
 * failure. Queries never overlap: the next one is scheduled when the previous has finished.
 */
export class PrometheusMetricSource extends EventEmitter<PrometheusSourceEvents> {
  readonly client: PrometheusQueryClient;
  readonly intervalMs: number;
  readonly counters = { queries: 0, failures: 0 };
  lastReading: MetricReading | null = null;
  lastError: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(config: PrometheusSourceConfig) {
    super();
    this.client = new PrometheusQueryClient(config);
    this.intervalMs = config.pollingInterval * 1000;
  }

  get config(): PrometheusSourceConfig {
    return this.client.config;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#inFlight;
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const started = Date.now();
      this.#inFlight = this.#poll().finally(() => {
        if (this.#running) this.#schedule(Math.max(0, this.intervalMs - (Date.now() - started)));
      });
    }, delayMs);
    this.#timer.unref?.();
  }

  async #poll(): Promise<void> {
    this.counters.queries++;
    let reading: MetricReading;
    try {
      reading = await this.client.read();
    } catch (error) {
      this.counters.failures++;
      this.lastError = (error as Error).message;
      // An 'error' event nobody listens to would throw; the counters and lastError still tell.
      if (this.#running && this.listenerCount('error') > 0) this.emit('error', error as Error);
      return;
    }
    this.lastReading = reading;
    this.lastError = null;
    if (this.#running) this.emit('reading', reading);
  }
}
