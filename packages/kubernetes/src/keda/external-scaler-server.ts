/**
 * KEDA's external scaler (gRPC, externalscaler.proto) answered by lagscale's lag engine and
 * policies: a ScaledObject with an `external` (or `external-push`) trigger whose `scalerAddress`
 * is this server scales on lagscale's numbers, with KEDA doing the rest (the HPA, idle and
 * fallback replicas, pausing).
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { LagSnapshot } from '@lagscale/core';
import type { Logger, PrometheusText } from '@lagscale/exporter';
import { bearerToken, type ExternalScalerAuth, SCALER_TOKEN_METADATA_KEY, ScalerTokens, scalerAuthFromEnvironment } from './scaler-auth.js';
import {
  answerTrigger,
  checkScaledObjectRef,
  DEFAULT_SCALER_LIMITS,
  maxRequestBytes,
  metricNameOf,
  parseScalerMetadata,
  type ScaledObjectRef,
  type ScalerAnswer,
  type ScalerLimits,
  ScalerRequestError,
  type ScalerTrigger,
} from './scaler-request.js';
import { type EvictionReason, TriggerStateStore } from './trigger-states.js';

export * from './scaler-auth.js';
export * from './trigger-states.js';

export const EXTERNAL_SCALER_PROTO = fileURLToPath(new URL('../../proto/externalscaler.proto', import.meta.url));

/** Where lag comes from: a LagMonitor (its latest snapshot and its `snapshot` events). */
export interface ScalerSnapshotSource {
  readonly latest: LagSnapshot | null;
  on(event: 'snapshot', listener: (snapshot: LagSnapshot) => void): unknown;
  off(event: 'snapshot', listener: (snapshot: LagSnapshot) => void): unknown;
}

export interface ExternalScalerOptions {
  readonly source: ScalerSnapshotSource;
  /** The brokers `source` reads; a trigger naming other bootstrapServers is refused. */
  readonly brokers: readonly string[];
  readonly logger: Logger;
  /**
   * Serve TLS (KEDA's trigger then sets caCert). With `ca`, every call must come with a client
   * certificate `ca` signed (KEDA: TriggerAuthentication tlsClientCert and tlsClientKey); a call
   * without one is answered UNAUTHENTICATED.
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string };
  /**
   * Tokens a caller must present (gRPC metadata `authorization: Bearer <token>`, or the trigger
   * metadata scalerTokenFromEnv); with `tls.ca` too, both are needed. Left out: taken from the
   * environment (LAGSCALE_KEDA_SCALER_TOKEN_FILE, LAGSCALE_KEDA_SCALER_TOKEN), so a Secret can
   * hold it; `{}` turns tokens off whatever the environment says.
   */
  readonly auth?: ExternalScalerAuth;
  /** Bounds on what callers can make the scaler hold; each defaults to DEFAULT_SCALER_LIMITS'. */
  readonly limits?: Partial<ScalerLimits>;
  /** The clock of the idle bound (tests). */
  readonly now?: () => number;
  /** Refused calls are logged at most once per method and reason in this window (tests shorten it). Default 10 s. */
  readonly refusalLogWindowMs?: number;
  /**
   * A share group's maximum size (the brokers' group.share.max.size) for triggers that name a
   * share group without shareGroupMaxSize; null or absent: 200, the brokers' default.
   */
  readonly shareGroupMaxSize?: number | null;
}

/** Per ScaledObject: the policy's state, advanced once per snapshot however often KEDA asks. */
interface TriggerState {
  readonly trigger: ScalerTrigger;
  policyState: unknown;
  answered: { readonly time: number; readonly answer: ScalerAnswer } | null;
}

export interface ExternalScalerServer {
  /** host:port it listens on. */
  readonly address: string;
  readonly counters: {
    /** Calls by method. */
    requests: Map<string, number>;
    /** Calls answered with an error (any status), by method. */
    errors: Map<string, number>;
    /** Calls refused UNAUTHENTICATED, by method. */
    unauthenticated: Map<string, number>;
    /** ScaledObject states dropped, by why (`size`: the least recently used beyond maxEntries; `idle`: unused for idleSeconds). */
    evictions: ReadonlyMap<EvictionReason, number>;
  };
  /** ScaledObject states held now (at most limits.maxEntries). */
  readonly stateEntries: number;
  /** StreamIsActive calls open now (at most limits.maxStreams). */
  readonly openStreams: number;
  readonly limits: ScalerLimits;
  /** What the scaler requires of callers. */
  readonly authentication: { readonly token: boolean; readonly clientCertificate: boolean };
  close(): Promise<void>;
}

const STATUS: Record<ScalerRequestError['kind'], grpc.status> = {
  invalid: grpc.status.INVALID_ARGUMENT,
  unavailable: grpc.status.UNAVAILABLE,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  exhausted: grpc.status.RESOURCE_EXHAUSTED,
};

function serviceError(error: unknown): Partial<grpc.ServiceError> {
  if (error instanceof ScalerRequestError) return { code: STATUS[error.kind], details: error.message, message: error.message };
  return { code: grpc.status.INTERNAL, details: (error as Error).message, message: (error as Error).message };
}

function checkLimits(limits: ScalerLimits): ScalerLimits {
  for (const [key, value] of Object.entries(limits)) {
    if (!(typeof value === 'number' && value > 0 && (key === 'idleSeconds' || Number.isInteger(value)))) {
      throw new RangeError(`limits.${key}: must be a positive ${key === 'idleSeconds' ? 'number' : 'integer'}, got ${String(value)}`);
    }
  }
  return limits;
}

/**
 * TLS that asks for a client certificate without failing the handshake when there is none: the
 * call is then refused UNAUTHENTICATED, a status that says why (a failed handshake reaches KEDA as
 * a bare connection error). The certificates are handed over once, after the server watches them.
 */
function clientCertificateCredentials(tls: { readonly cert: string; readonly key: string; readonly ca: string }): grpc.ServerCredentials {
  const ca = { caCertificate: Buffer.from(tls.ca) };
  const identity = { certificate: Buffer.from(tls.cert), privateKey: Buffer.from(tls.key) };
  const provider: grpc.experimental.CertificateProvider = {
    // Delivered after the current call returns: grpc-js registers its watcher only after adding these listeners.
    addCaCertificateListener: (listener) => queueMicrotask(() => listener(ca)),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (listener) => queueMicrotask(() => listener(identity)),
    removeIdentityCertificateListener: () => {},
  };
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/** Why a call was refused: a ScalerRequestError's kind, or `internal`. */
export type RefusalReason = ScalerRequestError['kind'] | 'internal';

/** A line for refused calls: the first of a window, or the window's summary of those left out. */
export interface RefusalLine {
  readonly method: string;
  readonly reason: RefusalReason;
  /** The refusal written (the first of the window, or the last one left out). */
  readonly message: string;
  /** Refusals of this method and reason not written since the previous line (0 on a window's first). */
  readonly suppressed: number;
}

export const REFUSAL_LOG_WINDOW_MS = 10_000;

interface RefusalWindow {
  readonly method: string;
  readonly reason: RefusalReason;
  suppressed: number;
  last: string;
  readonly timer: NodeJS.Timeout;
}

/**
 * One warning per method and reason per window. Whoever reaches the scaler can make it refuse as
 * fast as it can call, and a line per refused call would let that flood the log (and bury
 * everything else in it). The first refusal is written at once; those that follow within the
 * window are counted, and when the window ends one line says how many there were and shows the
 * last, opening the next window: under a flood, one line per window, and no count lost. Memory
 * is flat: a window per method and reason, both from small fixed sets.
 */
export class RefusalLog {
  readonly #open = new Map<string, RefusalWindow>();
  readonly #windowMs: number;
  readonly #write: (line: RefusalLine) => void;

  constructor(windowMs: number, write: (line: RefusalLine) => void) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs: must be > 0, got ${windowMs}`);
    this.#windowMs = windowMs;
    this.#write = write;
  }

  note(method: string, reason: RefusalReason, message: string): void {
    const key = `${method}/${reason}`;
    const open = this.#open.get(key);
    if (open !== undefined) {
      open.suppressed++;
      open.last = message;
      return;
    }
    this.#write({ method, reason, message, suppressed: 0 });
    this.#openWindow(key, method, reason);
  }

  /** Writes what the open windows left out (the server is stopping) and forgets them. */
  close(): void {
    const open = [...this.#open.values()];
    this.#open.clear();
    for (const { method, reason, last, suppressed, timer } of open) {
      clearTimeout(timer);
      if (suppressed > 0) this.#write({ method, reason, message: last, suppressed });
    }
  }

  #openWindow(key: string, method: string, reason: RefusalReason): void {
    const timer = setTimeout(() => {
      const ended = this.#open.get(key);
      this.#open.delete(key);
      if (ended === undefined || ended.suppressed === 0) return;
      // The summary is this window's line: refusals still coming are counted for the next one.
      this.#write({ method, reason, message: ended.last, suppressed: ended.suppressed });
      this.#openWindow(key, method, reason);
    }, this.#windowMs);
    timer.unref();
    this.#open.set(key, { method, reason, suppressed: 0, last: '', timer });
  }
}

interface AuthenticatedCall {
  readonly metadata: grpc.Metadata;
  getAuthContext(): { readonly sslPeerCertificate?: unknown };
}

export async function startExternalScaler(options: ExternalScalerOptions & { readonly host?: string; readonly port?: number }): Promise<ExternalScalerServer> {
  const limits = checkLimits({ ...DEFAULT_SCALER_LIMITS, ...options.limits });
  const tokens = new ScalerTokens(options.auth ?? scalerAuthFromEnvironment(), {
    ...(options.now === undefined ? {} : { now: options.now }),
    onReloadFailure: (message) => options.logger.warn({ event: 'keda_scaler_token_reload_failed', err: message }, message),
  });
  const requireClientCertificate = options.tls?.ca !== undefined;
  const definition = protoLoader.loadSync(EXTERNAL_SCALER_PROTO, { keepCase: true, longs: Number, defaults: true });
  const proto = grpc.loadPackageDefinition(definition) as unknown as { externalscaler: { ExternalScaler: grpc.ServiceClientConstructor } };
  const states = new TriggerStateStore<TriggerState>({
    maxEntries: limits.maxEntries,
    idleMs: limits.idleSeconds * 1000,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  // Idle states go even when nobody calls.
  const sweeper = setInterval(() => states.sweep(), Math.min(limits.idleSeconds * 1000, 60_000));
  sweeper.unref();
  let openStreams = 0;
  const counters = {
    requests: new Map<string, number>(),
    errors: new Map<string, number>(),
    unauthenticated: new Map<string, number>(),
    evictions: states.evictions,
  };
  const count = (map: Map<string, number>, key: string): void => {
    map.set(key, (map.get(key) ?? 0) + 1);
  };

  /** Before anything else is read or held: the client certificate and/or the token. */
  const authenticate = (call: AuthenticatedCall, ref: Partial<ScaledObjectRef> | null | undefined): void => {
    if (requireClientCertificate && call.getAuthContext().sslPeerCertificate === undefined) {
      throw new ScalerRequestError(
        "a client certificate signed by the scaler's CA is required (KEDA: a TriggerAuthentication with tlsClientCert, tlsClientKey and caCert)",
        'unauthenticated',
      );
    }
    if (!tokens.required) return;
    const header = call.metadata.get('authorization')[0];
    const metadata = ref?.scalerMetadata;
    const fromMetadata = metadata && Object.hasOwn(metadata, SCALER_TOKEN_METADATA_KEY) ? metadata[SCALER_TOKEN_METADATA_KEY] : undefined;
    const given =
      bearerToken(typeof header === 'string' ? header : undefined) ?? (typeof fromMetadata === 'string' && fromMetadata !== '' ? fromMetadata : null);
    if (given === null) {
      throw new ScalerRequestError(
        `a token is required: gRPC metadata "authorization: Bearer <token>", or the trigger metadata ${SCALER_TOKEN_METADATA_KEY} naming an environment variable of the scale target that holds it`,
        'unauthenticated',
      );
    }
    if (!tokens.matches(given)) throw new ScalerRequestError('the token is not accepted', 'unauthenticated');
  };

  const triggerOf = (raw: Partial<ScaledObjectRef> | null | undefined): { ref: ScaledObjectRef; trigger: ScalerTrigger } => {
    const ref = checkScaledObjectRef(raw, limits);
    return { ref, trigger: parseScalerMetadata(ref.scalerMetadata, options.brokers) };
  };
  // Keyed by namespace/name and the metadata's fingerprint: a caller sending other metadata under a
  // ScaledObject's name gets a state of its own, and the ScaledObject's state is never reset by it.
  const stateOf = (ref: ScaledObjectRef, trigger: ScalerTrigger): TriggerState =>
    states.acquire(`${ref.namespace}/${ref.name}/${trigger.key}`, () => ({ trigger, policyState: undefined, answered: null }));
  const answer = (state: TriggerState, snapshot: LagSnapshot | null): ScalerAnswer => {
    if (snapshot !== null && state.answered?.time === snapshot.time) return state.answered.answer;
    const result = answerTrigger(state.trigger, snapshot, state.policyState, { shareGroupMaxSize: options.shareGroupMaxSize ?? null });
    state.policyState = result.policyState;
    if (snapshot !== null) state.answered = { time: snapshot.time, answer: result };
    return result;
  };
  const windowSeconds = (options.refusalLogWindowMs ?? REFUSAL_LOG_WINDOW_MS) / 1000;
  const refusals = new RefusalLog(options.refusalLogWindowMs ?? REFUSAL_LOG_WINDOW_MS, ({ method, reason, message, suppressed }) =>
    options.logger.warn(
      { event: 'keda_scaler_refused', method, reason, err: message, suppressed },
      suppressed === 0
        ? `${method}: ${message}`
        : `${method}: ${suppressed} more call(s) refused (${reason}) in the last ${windowSeconds} s, not logged one by one; the last: ${message}`,
    ),
  );
  const refused = (method: string, error: unknown): void => {
    count(counters.errors, method);
    if (error instanceof ScalerRequestError && error.kind === 'unauthenticated') count(counters.unauthenticated, method);
    refusals.note(method, error instanceof ScalerRequestError ? error.kind : 'internal', (error as Error).message);
  };
  const unary = <Req, Res>(
    method: string,
    refOf: (request: Req) => Partial<ScaledObjectRef> | null | undefined,
    handle: (ref: ScaledObjectRef, trigger: ScalerTrigger, request: Req) => Res,
  ): grpc.handleUnaryCall<Req, Res> => {
    return (call, callback) => {
      count(counters.requests, method);
      try {
        const raw = refOf(call.request);
        authenticate(call, raw);
        const { ref, trigger } = triggerOf(raw);
        callback(null, handle(ref, trigger, call.request));
      } catch (error) {
        refused(method, error);
        callback(serviceError(error));
      }
    };
  };

  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxRequestBytes(limits) });
  server.addService(proto.externalscaler.ExternalScaler.service, {
    IsActive: unary<ScaledObjectRef, { result: boolean }>(
      'IsActive',
      (request) => request,
      (ref, trigger) => ({ result: answer(stateOf(ref, trigger), options.source.latest).active }),
    ),
    // The target does not depend on the lag (the threshold, or 1): known from the metadata alone, no state held.
    GetMetricSpec: unary<ScaledObjectRef, { metricSpecs: object[] }>(
      'GetMetricSpec',
      (request) => request,
      (_ref, trigger) => {
        const target = trigger.policy.name === 'threshold' ? (trigger.policy.config as { lagThreshold: number }).lagThreshold : 1;
        return { metricSpecs: [{ metricName: metricNameOf(trigger), targetSize: Math.round(target), targetSizeFloat: target }] };
      },
    ),
    GetMetrics: unary<{ scaledObjectRef: ScaledObjectRef; metricName: string }, { metricValues: object[] }>(
      'GetMetrics',
      (request) => request.scaledObjectRef,
      (ref, trigger, request) => {
        const result = answer(stateOf(ref, trigger), options.source.latest);
        const metricName = request.metricName.slice(0, 256) || result.metricName;
        return { metricValues: [{ metricName, metricValue: Math.round(result.value), metricValueFloat: result.value }] };
      },
    ),
    StreamIsActive: (call: grpc.ServerWritableStream<ScaledObjectRef, { result: boolean }>) => {
      count(counters.requests, 'StreamIsActive');
      let ref: ScaledObjectRef;
      let trigger: ScalerTrigger;
      try {
        authenticate(call, call.request);
        ({ ref, trigger } = triggerOf(call.request));
        if (openStreams >= limits.maxStreams) {
          throw new ScalerRequestError(`${openStreams} StreamIsActive calls are open, the most this scaler serves (limits.maxStreams)`, 'exhausted');
        }
      } catch (error) {
        refused('StreamIsActive', error);
        call.destroy(Object.assign(new Error((error as Error).message), serviceError(error)));
        return;
      }
      openStreams++;
      let last: boolean | null = null;
      const push = (snapshot: LagSnapshot | null): void => {
        try {
          // Looked up on each push: it keeps the state fresh, and one evicted meanwhile starts afresh.
          const active = answer(stateOf(ref, trigger), snapshot).active;
          if (active !== last) {
            last = active;
            call.write({ result: active });
          }
        } catch (error) {
          // A cycle without the group's lag: nothing to push; the next cycle tries again.
          if (!(error instanceof ScalerRequestError)) throw error;
        }
      };
      const listener = (snapshot: LagSnapshot): void => push(snapshot);
      options.source.on('snapshot', listener);
      let stopped = false;
      const stop = (): void => {
        if (stopped) return;
        stopped = true;
        openStreams--;
        options.source.off('snapshot', listener);
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      push(options.source.latest);
    },
  });

  const credentials = options.tls
    ? options.tls.ca === undefined
      ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }], false)
      : clientCertificateCredentials({ cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca })
    : grpc.ServerCredentials.createInsecure();
  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${options.port ?? 0}`, credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  }).catch((error: unknown) => {
    clearInterval(sweeper);
    refusals.close();
    throw error;
  });
  const authentication = { token: tokens.required, clientCertificate: requireClientCertificate };
  if (!authentication.token && !authentication.clientCertificate && !['127.0.0.1', '::1', 'localhost'].includes(host)) {
    options.logger.warn(
      { event: 'keda_scaler_unauthenticated', host },
      `the KEDA scaler on ${host} answers anyone who reaches it: require a token (LAGSCALE_KEDA_SCALER_TOKEN_FILE) or client certificates`,
    );
  }
  return {
    address: `${host}:${port}`,
    counters,
    get stateEntries() {
      return states.size;
    },
    get openStreams() {
      return openStreams;
    },
    limits,
    authentication,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweeper);
        server.tryShutdown(() => {
          states.clear();
          refusals.close();
          resolve();
        });
        // Streams (StreamIsActive) stay open until KEDA cancels them: end them after a grace period.
        setTimeout(() => server.forceShutdown(), 2000).unref();
      }),
  };
}

/** The scaler's own metrics, for a /metrics next to it (lagscale keda-scaler --metrics-port). */
export function externalScalerMetrics(scaler: ExternalScalerServer): (out: PrometheusText) => void {
  return (out) => {
    out.family('lagscale_keda_scaler_requests_total', 'counter', 'gRPC calls from KEDA, by method.');
    for (const [method, value] of scaler.counters.requests) out.sample('lagscale_keda_scaler_requests_total', { method }, value);
    out.family('lagscale_keda_scaler_errors_total', 'counter', 'gRPC calls answered with an error (bad metadata, lag unknown, unauthenticated), by method.');
    for (const [method, value] of scaler.counters.errors) out.sample('lagscale_keda_scaler_errors_total', { method }, value);
    out.family('lagscale_keda_scaler_unauthenticated_total', 'counter', 'gRPC calls refused for want of a valid token or client certificate, by method.');
    for (const [method, value] of scaler.counters.unauthenticated) out.sample('lagscale_keda_scaler_unauthenticated_total', { method }, value);
    out
      .family('lagscale_keda_scaler_state_entries', 'gauge', 'ScaledObject states held (per namespace/name and metadata fingerprint).')
      .sample('lagscale_keda_scaler_state_entries', {}, scaler.stateEntries);
    out
      .family('lagscale_keda_scaler_state_entries_max', 'gauge', 'The most ScaledObject states held at once (limits.maxEntries).')
      .sample('lagscale_keda_scaler_state_entries_max', {}, scaler.limits.maxEntries);
    out.family(
      'lagscale_keda_scaler_state_evictions_total',
      'counter',
      'ScaledObject states dropped: reason="size" the least recently used beyond the bound, reason="idle" unused for idleSeconds.',
    );
    for (const [reason, value] of scaler.counters.evictions) out.sample('lagscale_keda_scaler_state_evictions_total', { reason }, value);
    out.family('lagscale_keda_scaler_streams', 'gauge', 'StreamIsActive calls open.').sample('lagscale_keda_scaler_streams', {}, scaler.openStreams);
  };
}
