import type { Manifest } from '../client/apply.js';
import { EXTERNAL_METRICS_GROUP, EXTERNAL_METRICS_VERSION } from './external-metrics-server.js';

export interface ExternalMetricsRegistration {
  /** Namespace of the controller's Service and service account. */
  readonly namespace: string;
  /** Service name; the serving certificate must name `<service>.<namespace>.svc`. Default `lagscale-metrics`. */
  readonly service?: string;
  readonly port: number;
  /** PEM of the CA that signed the serving certificate. */
  readonly caBundle: string;
  /** The controller's service account, for the delegation bindings. Default `lagscale-controller`. */
  readonly serviceAccount?: string;
  /**
   * For a server outside the cluster's pod network (tests on one machine): the Service is an
   * ExternalName to this host instead of selecting pods with `selector`.
   */
  readonly externalName?: string;
  readonly selector?: Readonly<Record<string, string>>;
}

/**
 * What registers the external metrics API with the aggregator: the Service, the APIService (with
 * the CA that signed the server's certificate), the bindings an aggregated API server needs
 * (read the request-header settings, review tokens and access) and read access to the metrics
 * for the HPA controller.
 */
export function externalMetricsManifests(options: ExternalMetricsRegistration): Manifest[] {
  const service = options.service ?? 'lagscale-metrics';
  const serviceAccount = options.serviceAccount ?? 'lagscale-controller';
  const subject = { kind: 'ServiceAccount', name: serviceAccount, namespace: options.namespace };
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service, namespace: options.namespace },
      spec:
        options.externalName === undefined
          ? {
              selector: options.selector ?? { 'app.kubernetes.io/name': 'lagscale-controller' },
              ports: [{ name: 'https', port: options.port, targetPort: options.port }],
            }
          : { type: 'ExternalName', externalName: options.externalName, ports: [{ name: 'https', port: options.port }] },
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: `${EXTERNAL_METRICS_VERSION}.${EXTERNAL_METRICS_GROUP}` },
      spec: {
        group: EXTERNAL_METRICS_GROUP,
        version: EXTERNAL_METRICS_VERSION,
        service: { name: service, namespace: options.namespace, port: options.port },
        caBundle: Buffer.from(options.caBundle).toString('base64'),
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'lagscale-metrics:system:auth-delegator' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [subject],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'lagscale-metrics-auth-reader', namespace: 'kube-system' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' },
      subjects: [subject],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'lagscale-external-metrics-reader' },
      rules: [{ apiGroups: [EXTERNAL_METRICS_GROUP], resources: ['*'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'lagscale-external-metrics-reader:horizontal-pod-autoscaler' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lagscale-external-metrics-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'horizontal-pod-autoscaler', namespace: 'kube-system' }],
    },
  ];
}
