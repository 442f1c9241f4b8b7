import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { EXTERNAL_SCALER_PROTO } from '@lagscale/kubernetes';

export interface KedaClient extends grpc.Client {
  IsActive(ref: object, callback: (error: grpc.ServiceError | null, response: { result: boolean }) => void): void;
  GetMetricSpec(
    ref: object,
    callback: (error: grpc.ServiceError | null, response: { metricSpecs: { metricName: string; targetSize: number; targetSizeFloat: number }[] }) => void,
  ): void;
  GetMetrics(
    request: object,
    callback: (error: grpc.ServiceError | null, response: { metricValues: { metricName: string; metricValue: number; metricValueFloat: number }[] }) => void,
  ): void;
  StreamIsActive(ref: object): grpc.ClientReadableStream<{ result: boolean }>;
}

/** A client generated at run time from the same .proto as the server: what KEDA's Go client is generated from. */
export function connectKedaClient(address: string): KedaClient {
  const definition = protoLoader.loadSync(EXTERNAL_SCALER_PROTO, { keepCase: true, longs: Number, defaults: true });
  const proto = grpc.loadPackageDefinition(definition) as unknown as {
    externalscaler: { ExternalScaler: new (address: string, credentials: grpc.ChannelCredentials) => KedaClient };
  };
  return new proto.externalscaler.ExternalScaler(address, grpc.credentials.createInsecure());
}

export const call = <T>(method: (request: object, callback: (error: grpc.ServiceError | null, response: T) => void) => void, request: object): Promise<T> =>
  new Promise((resolve, reject) => method(request, (error, response) => (error ? reject(error) : resolve(response))));
