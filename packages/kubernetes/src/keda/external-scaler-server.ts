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
import type { Logger } from '@lagscale/exporter';
import { answerTrigger, metricNameOf, parseScalerMetadata, type ScalerAnswer, ScalerRequestError, type ScalerTrigger } from './scaler-request.js';

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
  /** Serve TLS (KEDA's trigger then sets caCert); with `ca`, clients must present a certificate it signed. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string };
}

interface ScaledObjectRef {
  readonly name: string;
  readonly namespace: string;
  readonly scalerMetadata: Record<string, string>;
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
  readonly counters: { requests: Map<string, number>; errors: Map<string, number> };
  close(): Promise<void>;
}

const STATUS: Record<ScalerRequestError['kind'], grpc.status> = { invalid: grpc.status.INVALID_ARGUMENT, unavailable: grpc.status.UNAVAILABLE };

function serviceError(error: unknown): Partial<grpc.ServiceError> {
  if (error instanceof ScalerRequestError) return { code: STATUS[error.kind], details: error.message, message: error.message };
  return { code: grpc.status.INTERNAL, details: (error as Error).message, message: (error as Error).message };
}

export async function startExternalScaler(options: ExternalScalerOptions & { readonly host?: string; readonly port?: number }): Promise<ExternalScalerServer> {
  const definition = protoLoader.loadSync(EXTERNAL_SCALER_PROTO, { keepCase: true, longs: Number, defaults: true });
  const proto = grpc.loadPackageDefinition(definition) as unknown as { externalscaler: { ExternalScaler: grpc.ServiceClientConstructor } };
  const states = new Map<string, TriggerState>();
  const counters = { requests: new Map<string, number>(), errors: new Map<string, number>() };
  const count = (map: Map<string, number>, key: string): void => {
    map.set(key, (map.get(key) ?? 0) + 1);
  };

  const triggerOf = (ref: ScaledObjectRef | null | undefined): { trigger: ScalerTrigger; state: TriggerState } => {
    if (!ref) throw new ScalerRequestError('scaledObjectRef: required', 'invalid');
    const trigger = parseScalerMetadata(ref.scalerMetadata ?? {}, options.brokers);
    const id = `${ref.namespace}/${ref.name}`;
    let state = states.get(id);
    if (state === undefined || state.trigger.key !== trigger.key) {
      state = { trigger, policyState: undefined, answered: null };
      states.set(id, state);
    }
    return { trigger, state };
  };
  const answer = (state: TriggerState, snapshot: LagSnapshot | null): ScalerAnswer => {
    if (snapshot !== null && state.answered?.time === snapshot.time) return state.answered.answer;
    const result = answerTrigger(state.trigger, snapshot, state.policyState);
    state.policyState = result.policyState;
    if (snapshot !== null) state.answered = { time: snapshot.time, answer: result };
    return result;
  };
  const unary = <Req, Res>(method: string, handle: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> => {
    return (call, callback) => {
      count(counters.requests, method);
      try {
        callback(null, handle(call.request));
      } catch (error) {
        count(counters.errors, method);
        options.logger.warn({ event: 'keda_scaler_refused', method, err: (error as Error).message }, `${method}: ${(error as Error).message}`);
        callback(serviceError(error));
      }
    };
  };

  const server = new grpc.Server();
  server.addService(proto.externalscaler.ExternalScaler.service, {
    IsActive: unary<ScaledObjectRef, { result: boolean }>('IsActive', (ref) => {
      const { state } = triggerOf(ref);
      return { result: answer(state, options.source.latest).active };
    }),
    GetMetricSpec: unary<ScaledObjectRef, { metricSpecs: object[] }>('GetMetricSpec', (ref) => {
      const { trigger } = triggerOf(ref);
      // The target does not depend on the lag: the threshold (or 1), known from the metadata alone.
      const target = trigger.policy.name === 'threshold' ? (trigger.policy.config as { lagThreshold: number }).lagThreshold : 1;
      return { metricSpecs: [{ metricName: metricNameOf(trigger), targetSize: Math.round(target), targetSizeFloat: target }] };
    }),
    GetMetrics: unary<{ scaledObjectRef: ScaledObjectRef; metricName: string }, { metricValues: object[] }>('GetMetrics', (request) => {
      const { state } = triggerOf(request.scaledObjectRef);
      const result = answer(state, options.source.latest);
      return { metricValues: [{ metricName: request.metricName || result.metricName, metricValue: Math.round(result.value), metricValueFloat: result.value }] };
    }),
    StreamIsActive: (call: grpc.ServerWritableStream<ScaledObjectRef, { result: boolean }>) => {
      count(counters.requests, 'StreamIsActive');
      let state: TriggerState;
      try {
        state = triggerOf(call.request).state;
      } catch (error) {
        count(counters.errors, 'StreamIsActive');
        call.destroy(Object.assign(new Error((error as Error).message), serviceError(error)));
        return;
      }
      let last: boolean | null = null;
      const push = (snapshot: LagSnapshot | null): void => {
        try {
          const active = answer(state, snapshot).active;
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
      const stop = (): void => {
        options.source.off('snapshot', listener);
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      push(options.source.latest);
    },
  });

  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(
        options.tls.ca === undefined ? null : Buffer.from(options.tls.ca),
        [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }],
        options.tls.ca !== undefined,
      )
    : grpc.ServerCredentials.createInsecure();
  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${options.port ?? 0}`, credentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  return {
    address: `${host}:${port}`,
    counters,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Streams (StreamIsActive) stay open until KEDA cancels them: end them after a grace period.
        setTimeout(() => server.forceShutdown(), 2000).unref();
      }),
  };
}
