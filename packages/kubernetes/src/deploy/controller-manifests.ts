import type { Manifest } from '../client/apply.js';
import { scaledConsumerCrd } from '../crd/scaled-consumer.js';

export interface ControllerManifestOptions {
  /** Namespace of the controller. Default `lagscale`. */
  readonly namespace?: string;
  /** The image that runs `lagscale` (see the Dockerfile). Default `lagscale:latest`. */
  readonly image?: string;
  /** Controller pods; more than one share the work through the Lease (one leads). Default 2. */
  readonly replicas?: number;
}

const NAME = 'lagscale-controller';

/**
 * Everything a cluster needs to run the ScaledConsumer controller: the CRD, its service account
 * with the least RBAC it works with, and its Deployment (two pods, one leading through a Lease).
 */
export function controllerManifests(options: ControllerManifestOptions = {}): Manifest[] {
  const namespace = options.namespace ?? 'lagscale';
  const labels = { 'app.kubernetes.io/name': NAME, 'app.kubernetes.io/part-of': 'lagscale' };
  const subject = { kind: 'ServiceAccount', name: NAME, namespace };
  return [
    scaledConsumerCrd() as unknown as Manifest,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NAME, namespace, labels } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: NAME, labels },
      rules: [
        { apiGroups: ['lagscale.dev'], resources: ['scaledconsumers'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['lagscale.dev'], resources: ['scaledconsumers/status'], verbs: ['get', 'patch', 'update'] },
        // Any workload with a scale subresource, as KEDA and the HPA controller need.
        { apiGroups: ['*'], resources: ['*/scale'], verbs: ['get', 'patch', 'update'] },
        // Deployments and StatefulSets from one informer per kind: no request per workload per cycle.
        { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        // Kafka TLS and SASL material named by ScaledConsumers.
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: NAME, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: NAME },
      subjects: [subject],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: `${NAME}-lease`, namespace, labels },
      rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'create', 'update'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: `${NAME}-lease`, namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${NAME}-lease` },
      subjects: [subject],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: NAME, namespace, labels },
      spec: {
        replicas: options.replicas ?? 2,
        selector: { matchLabels: { 'app.kubernetes.io/name': NAME } },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: NAME,
            securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'controller',
                image: options.image ?? 'lagscale:latest',
                args: ['controller', '--lease-namespace', namespace, '--host', '0.0.0.0', '--port', '8081'],
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ],
                ports: [{ name: 'http', containerPort: 8081 }],
                readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
                livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10 },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              },
            ],
          },
        },
      },
    },
  ];
}
