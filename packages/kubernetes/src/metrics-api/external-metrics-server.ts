import type { TLSSocket } from 'node:tls';
import { AuthorizationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { type BehaviorConfig, type GroupKind, groupLagForTopics, type LagSnapshot, type ScalingDecision, shareGroupLagForTopics } from '@lagscale/core';
import { type Logger, serverOptions } from '@lagscale/exporter';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { LabelSelectorError, matchesLabels, parseLabelSelector } from './label-selector.js';

export const EXTERNAL_METRICS_GROUP = 'external.metrics.k8s.io';
export const EXTERNAL_METRICS_VERSION = 'v1beta1';
const GROUP_VERSION = `${EXTERNAL_METRICS_GROUP}/${EXTERNAL_METRICS_VERSION}`;

/** The metrics served, by name, with what each means. */
export const EXTERNAL_METRICS = {
  kafka_consumergroup_lag: 'records behind: log-end offset minus committed offset, summed over the partitions (of `topic` when selected)',
  lagscale_consumergroup_time_lag_seconds: 'age of the oldest unconsumed record in seconds, worst partition',
  lagscale_sharegroup_lag:
    'a share group: records not acknowledged, summed over its share-partitions (of `topic` when selected); records redelivered count once each, never their deliveries',
  lagscale_desired_replicas: "the replicas lagscale's policy asks for, within the ScaledConsumer's min and max",
} as const;
export type ExternalMetricName = keyof typeof EXTERNAL_METRICS;

/** What the server reads: the ScaledConsumers of a namespace, as the controller serves them. */
export interface ExternalMetricsSource {
  scaledConsumers(namespace: string): readonly {
    readonly name: string;
    readonly group: string;
    /** Absent: `consumer`. A share group's items carry a `sharegroup` label instead of `consumergroup`. */
    readonly groupKind?: GroupKind;
    readonly snapshot: LagSnapshot | null;
    readonly decision: ScalingDecision | null;
    readonly behavior: BehaviorConfig;
  }[];
}

export interface ExternalMetricsServerOptions {
  readonly source: ExternalMetricsSource;
  readonly logger: Logger;
  /** The serving certificate and key (PEM text); the certificate names the Service (`<service>.<namespace>.svc`). */
  readonly tls: { readonly cert: string; readonly key: string };
  /**
   * Who may send requests: the aggregator's front-proxy client certificate, checked against this CA
   * and these common names. Default: read from kube-system/extension-apiserver-authentication, as
   * every aggregated API server does (needs `kubeConfig`).
   */
  readonly requestHeader?: { readonly clientCa: string; readonly allowedNames: readonly string[] };
  /** For the request-header settings and the SubjectAccessReviews of delegated authorization. */
  readonly kubeConfig?: KubeConfig;
  /** Skip SubjectAccessReviews (tests of the API alone); default false. */
  readonly skipAuthorization?: boolean;
}

interface ItemLabels extends Record<string, string> {}

/**
 * The external metrics API (`external.metrics.k8s.io/v1beta1`) behind an APIService, so the
 * native HPA can scale on lagscale's numbers. TLS; the caller must be the aggregator (its
 * front-proxy client certificate, request-header authentication as aggregated API servers do),
 * and the user it names (`X-Remote-User`, `X-Remote-Group`) is authorized with a
 * SubjectAccessReview. Values per namespace and metric, filtered by `consumergroup` (or
 * `sharegroup`), `topic` and `scaledconsumer` labels.
 *
 * A share group's time lag is not served: its start offset's age is held old by a single record
 * being redelivered, which more consumers would not help; scale it on `lagscale_sharegroup_lag` or
 * `lagscale_desired_replicas` (whose policies date a share group's backlog from its arrivals).
 */
export async function createExternalMetricsServer(options: ExternalMetricsServerOptions): Promise<FastifyInstance> {
  const requestHeader = options.requestHeader ?? (await readRequestHeaderSettings(options.kubeConfig));
  const app = Fastify({
    ...serverOptions(options.logger as FastifyBaseLogger),
    https: { cert: options.tls.cert, key: options.tls.key, ca: requestHeader.clientCa, requestCert: true, rejectUnauthorized: false },
  });
  const authorization = options.kubeConfig === undefined || options.skipAuthorization === true ? null : options.kubeConfig.makeApiClient(AuthorizationV1Api);
  const decisions = new Map<string, { allowed: boolean; at: number }>();

  const refuse = (reply: FastifyReply, code: 401 | 403, reason: string, message: string) =>
    reply.code(code).send({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

  app.addHook('onRequest', async (request, reply) => {
    if (request.url === '/healthz' || request.url === '/readyz' || request.url === '/livez') return;
    const socket = request.raw.socket as TLSSocket;
    const commonName = socket.authorized ? (socket.getPeerCertificate()?.subject?.CN as string | undefined) : undefined;
    if (commonName === undefined || (requestHeader.allowedNames.length > 0 && !requestHeader.allowedNames.includes(commonName)))
      return refuse(
        reply,
        401,
        'Unauthorized',
        'only the Kubernetes aggregator (its front-proxy client certificate) may call this API: go through the API server',
      );
    const user = header(request.headers['x-remote-user']);
    if (user === undefined) return refuse(reply, 401, 'Unauthorized', 'the request names no user (X-Remote-User)');
    const metric = /^\/apis\/external\.metrics\.k8s\.io\/v1beta1\/namespaces\/([^/]+)\/([^/?]+)/.exec(request.url);
    if (metric === null || authorization === null) return;
    // One header per group; Node would join repeated headers with ", " (headersDistinct keeps them apart).
    const groups = request.raw.headersDistinct['x-remote-group'] ?? [];
    const [, namespace, resource] = metric as unknown as [string, string, string];
    const key = JSON.stringify([user, groups, namespace, resource]);
    const cached = decisions.get(key);
    let allowed = cached !== undefined && Date.now() - cached.at < 10_000 ? cached.allowed : undefined;
    if (allowed === undefined) {
      const review = await authorization.createSubjectAccessReview({
        body: {
          spec: {
            user,
            groups,
            resourceAttributes: { group: EXTERNAL_METRICS_GROUP, version: EXTERNAL_METRICS_VERSION, resource, namespace, verb: 'get' },
          },
        },
      });
      allowed = review.status?.allowed === true;
      decisions.set(key, { allowed, at: Date.now() });
      if (decisions.size > 10_000) decisions.clear();
    }
    if (!allowed) return refuse(reply, 403, 'Forbidden', `user "${user}" may not get ${resource}.${EXTERNAL_METRICS_GROUP} in namespace "${namespace}"`);
  });

  app.get('/healthz', async () => 'ok');
  app.get('/readyz', async () => 'ok');
  app.get('/livez', async () => 'ok');
  app.get('/apis', async () => ({ kind: 'APIGroupList', apiVersion: 'v1', groups: [apiGroup()] }));
  app.get(`/apis/${EXTERNAL_METRICS_GROUP}`, async () => apiGroup());
  app.get(`/apis/${GROUP_VERSION}`, async () => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: GROUP_VERSION,
    resources: Object.keys(EXTERNAL_METRICS).map((name) => ({ name, singularName: '', namespaced: true, kind: 'ExternalMetricValueList', verbs: ['get'] })),
  }));
  app.get<{ Params: { namespace: string; metric: string }; Querystring: { labelSelector?: string } }>(
    `/apis/${GROUP_VERSION}/namespaces/:namespace/:metric`,
    async (request, reply) => {
      const { namespace, metric } = request.params;
      if (!(metric in EXTERNAL_METRICS))
        return reply.code(404).send({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          reason: 'NotFound',
          code: 404,
          message: `no external metric "${metric}"; lagscale serves ${Object.keys(EXTERNAL_METRICS).join(', ')}`,
        });
      let requirements: ReturnType<typeof parseLabelSelector>;
      try {
        requirements = parseLabelSelector(request.query.labelSelector);
      } catch (error) {
        if (!(error instanceof LabelSelectorError)) throw error;
        return reply
          .code(400)
          .send({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'BadRequest', code: 400, message: error.message });
      }
      const items = metricItems(options.source, namespace, metric as ExternalMetricName, requirements);
      return { kind: 'ExternalMetricValueList', apiVersion: GROUP_VERSION, metadata: {}, items };
    },
  );
  return app;
}

function apiGroup() {
  const version = { groupVersion: GROUP_VERSION, version: EXTERNAL_METRICS_VERSION };
  return { kind: 'APIGroup', apiVersion: 'v1', name: EXTERNAL_METRICS_GROUP, versions: [version], preferredVersion: version };
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The values of `metric` for the ScaledConsumers of `namespace` whose labels the selector matches; one per group, or per topic when a topic is selected. */
export function metricItems(
  source: ExternalMetricsSource,
  namespace: string,
  metric: ExternalMetricName,
  requirements: ReturnType<typeof parseLabelSelector>,
): { metricName: string; metricLabels: ItemLabels; timestamp: string; value: string }[] {
  const items: { metricName: string; metricLabels: ItemLabels; timestamp: string; value: string }[] = [];
  const topicsWanted = requirements.find((r) => r.key === 'topic' && r.op === 'in');
  for (const consumer of source.scaledConsumers(namespace)) {
    const snapshot = consumer.snapshot;
    const share = consumer.groupKind === 'share';
    const timestamp = new Date(snapshot?.time ?? Date.now()).toISOString();
    const base: ItemLabels = share
      ? { sharegroup: consumer.group, scaledconsumer: consumer.name }
      : { consumergroup: consumer.group, scaledconsumer: consumer.name };
    if (metric === 'lagscale_desired_replicas') {
      if (!matchesLabels(requirements, base) || consumer.decision === null) continue;
      const recommended = consumer.decision.recommendation?.replicas ?? consumer.decision.desiredReplicas;
      const desired = Math.min(consumer.behavior.maxReplicas, Math.max(consumer.behavior.minReplicas, recommended));
      items.push({ metricName: metric, metricLabels: base, timestamp, value: quantity(desired) });
      continue;
    }
    if (share) {
      const shareGroup = snapshot?.shareGroups?.find((g) => g.group === consumer.group);
      if (metric !== 'lagscale_sharegroup_lag' || shareGroup === undefined) continue;
      const shareScopes =
        topicsWanted !== undefined && topicsWanted.op === 'in'
          ? topicsWanted.values.map((topic) => ({ labels: { ...base, topic }, lag: shareGroupLagForTopics(shareGroup, new Set([topic])) }))
          : [{ labels: base, lag: shareGroup }];
      for (const scope of shareScopes) {
        if (!matchesLabels(requirements, scope.labels) || scope.lag.partitions.length === 0) continue;
        items.push({ metricName: metric, metricLabels: scope.labels, timestamp, value: quantity(scope.lag.lag) });
      }
      continue;
    }
    const group = snapshot?.groups.find((g) => g.group === consumer.group);
    if (group === undefined || metric === 'lagscale_sharegroup_lag') continue;
    const scopes =
      topicsWanted !== undefined && topicsWanted.op === 'in'
        ? topicsWanted.values.map((topic) => ({ labels: { ...base, topic }, lag: groupLagForTopics(group, new Set([topic])) }))
        : [{ labels: base, lag: group }];
    for (const scope of scopes) {
      if (!matchesLabels(requirements, scope.labels) || scope.lag.partitions.length === 0) continue;
      const value = metric === 'kafka_consumergroup_lag' ? scope.lag.lag : scope.lag.timeLagSeconds;
      if (value === null) continue;
      items.push({ metricName: metric, metricLabels: scope.labels, timestamp, value: quantity(value) });
    }
  }
  return items;
}

/** A Kubernetes quantity: whole numbers as they are, others in thousandths (`1500m`). */
export function quantity(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return `${Math.round(value * 1000)}m`;
}

/** The request-header settings every aggregated API server reads from kube-system/extension-apiserver-authentication. */
async function readRequestHeaderSettings(kubeConfig: KubeConfig | undefined): Promise<{ clientCa: string; allowedNames: string[] }> {
  if (kubeConfig === undefined) throw new Error('the external metrics API needs requestHeader settings or a kubeConfig to read them from');
  const map = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name: 'extension-apiserver-authentication', namespace: 'kube-system' });
  const clientCa = map.data?.['requestheader-client-ca-file'];
  if (clientCa === undefined)
    throw new Error(
      'kube-system/extension-apiserver-authentication has no requestheader-client-ca-file: start kube-apiserver with --requestheader-client-ca-file',
    );
  const names = map.data?.['requestheader-allowed-names'];
  return { clientCa, allowedNames: names === undefined || names === '' ? [] : (JSON.parse(names) as string[]) };
}
