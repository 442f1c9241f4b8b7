import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api,
  ApiregistrationV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
} from '@kubernetes/client-node';
import { createLogger } from '@lagscale/exporter';
import { freePorts } from '@lagscale/kafka';
import {
  applyManifests,
  type ControlPlane,
  controllerManifests,
  KubeletStandIn,
  type Manifest,
  resolveHelm,
  SCALED_CONSUMER,
  type ScaledConsumer,
  scaledConsumerCrd,
  startControlPlane,
} from '@lagscale/kubernetes';
import { VALIDATION_TOPICS } from '@lagscale/validator';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { commitOffsets, createTopic, produce, waitFor } from '../../test-support/kafka.js';
import {
  ALERTS_FILE,
  CHART_ALERTS_FILE,
  CHART_DIR,
  CHART_FILE,
  CRD_FILE,
  PLAIN_MANIFESTS_FILE,
  renderChartYaml,
  renderCrd,
  renderPlainManifests,
} from '../helm/render.js';

const brokers = inject('kafkaBrokers');
const openSearchUrl = inject('openSearchUrl');
const main = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

/**
 * The image's ENTRYPOINT and ENV as this checkout runs them: `node` is this Node, the CLI's path
 * (relative to the image's WORKDIR) is the built one here. NODE_ENV is left out (no production
 * install here).
 */
function imageOfDockerfile(): { entrypoint: string[]; env: Record<string, string> } {
  const dockerfile = readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8');
  const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(final)?.[1] ?? '[]') as string[];
  const env: Record<string, string> = {};
  for (const [, name, value] of final.matchAll(/^ENV (\w+)=(\S+)$/gm)) if (name !== 'NODE_ENV') env[name as string] = value as string;
  return { entrypoint: entrypoint.map((arg) => (arg === 'node' ? process.execPath : arg === 'packages/cli/dist/main.js' ? main : arg)), env };
}
const ALL_ON_VALUES = join(CHART_DIR, 'ci', 'all-on-values.yaml');
const logger = createLogger('helm-chart-test', 'warn');
/** Helm's own folders (repositories, cache, plugins) in a temporary place, not the user's. */
const helmHome = mkdtempSync(join(tmpdir(), 'lagscale-helm-home-'));

interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let helmBinary = '';

/** Runs helm; a non-zero exit is a result (the tests look at what it said), not a throw. */
function helm(args: readonly string[]): Promise<HelmResult> {
  return new Promise((resolve) => {
    execFile(
      helmBinary,
      [...args],
      {
        maxBuffer: 32 * 1024 * 1024,
        env: {
          ...process.env,
          HELM_CACHE_HOME: join(helmHome, 'cache'),
          HELM_CONFIG_HOME: join(helmHome, 'config'),
          HELM_DATA_HOME: join(helmHome, 'data'),
        },
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `helm template` of the chart as objects; throws with helm's words when it fails. */
async function template(args: readonly string[]): Promise<Manifest[]> {
  const result = await helm(['template', 'lagscale', CHART_DIR, '--namespace', 'lagscale', ...args]);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJSON() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

function kindCounts(manifests: readonly Manifest[]): string {
  const counts = new Map<string, number>();
  for (const manifest of manifests) counts.set(manifest.kind, (counts.get(manifest.kind) ?? 0) + 1);
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, count]) => `${count} ${kind}`)
    .join(', ');
}

interface Container {
  readonly args: string[];
  readonly env?: { name: string; value?: string }[];
}
function containerOf(manifest: Manifest): Container {
  return (manifest as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec.template.spec.containers[0] as Container;
}

/** The chart and the manifests rendered from it: helm lint, helm template, the values schema, the copies it keeps. */
describe('Helm chart deploy/helm/lagscale', () => {
  beforeAll(async () => {
    const started = Date.now();
    helmBinary = (await resolveHelm({ onProgress: (line) => process.stderr.write(`[helm] ${line}\n`) })).helm;
    process.stderr.write(`[helm] ${helmBinary} resolved in ${Date.now() - started} ms\n`);
  }, 30 * 60_000);

  it('passes helm lint --strict with the defaults and with every optional part on', async () => {
    for (const values of [[], ['--values', ALL_ON_VALUES]]) {
      const result = await helm(['lint', '--strict', CHART_DIR, ...values]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    }
  });

  it('renders with the defaults and with every optional part on, every pod running a real lagscale command with flags it has', async () => {
    const defaults = await template([]);
    const allOn = await template(['--values', ALL_ON_VALUES]);
    process.stderr.write(`[helm] template, defaults: ${kindCounts(defaults)}\n[helm] template, every part on: ${kindCounts(allOn)}\n`);
    expect(kindCounts(defaults)).toBe(
      '1 APIService, 2 ClusterRole, 3 ClusterRoleBinding, 4 Deployment, 1 Role, 2 RoleBinding, 1 ScaledConsumer, 3 Secret, 4 Service, 1 ServiceAccount',
    );
    expect(kindCounts(allOn)).toBe(
      '1 APIService, 2 ClusterRole, 3 ClusterRoleBinding, 1 ClusterTriggerAuthentication, 5 Deployment, 1 PrometheusRule, 1 Role, 2 RoleBinding, 1 ScaledConsumer, 7 Secret, 6 Service, 1 ServiceAccount, 1 ServiceMonitor',
    );
    // The exporter listens beyond loopback, so it has tokens (a generated read one) and Prometheus sends one.
    const exporter = allOn.find((m) => m.kind === 'Deployment' && m.metadata.name === 'lagscale-exporter') as Manifest;
    expect(containerOf(exporter).env).toContainEqual({
      name: 'LAGSCALE_API_TOKENS',
      valueFrom: { secretKeyRef: { name: 'lagscale-exporter-tokens', key: 'tokens' } },
    });
    const exporterTokens = allOn.find((m) => m.kind === 'Secret' && m.metadata.name === 'lagscale-exporter-tokens') as unknown as {
      data: { tokens: string; token: string };
    };
    const scrapeSecret = Buffer.from(exporterTokens.data.token, 'base64').toString('utf8');
    expect(scrapeSecret).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(Buffer.from(exporterTokens.data.tokens, 'base64').toString('utf8')).toBe(`prometheus:read:${scrapeSecret}`);
    const monitor = allOn.find((m) => m.kind === 'ServiceMonitor') as unknown as { spec: { endpoints: { port: string; authorization?: unknown }[] } };
    expect(monitor.spec.endpoints.find((endpoint) => endpoint.port === 'exporter')?.authorization).toEqual({
      type: 'Bearer',
      credentials: { name: 'lagscale-exporter-tokens', key: 'token' },
    });
    // The KEDA scaler: TLS with a client certificate required, and a token from a mounted Secret (re-read, no subPath).
    const scaler = allOn.find((m) => m.kind === 'Deployment' && m.metadata.name === 'lagscale-keda-scaler') as Manifest;
    const scalerArgs = containerOf(scaler).args;
    for (const flag of ['--server-cert', '--server-key', '--client-ca']) expect(scalerArgs, flag).toContain(flag);
    expect(containerOf(scaler).env).toContainEqual({ name: 'LAGSCALE_KEDA_SCALER_TOKEN_FILE', value: '/etc/lagscale/keda-scaler-token/token' });
    // Its --metrics-port listens on 0.0.0.0 too: the exporter's read token, and Prometheus scrapes its own Service port with it.
    const metricsTokens = { name: 'LAGSCALE_API_TOKENS', valueFrom: { secretKeyRef: { name: 'lagscale-exporter-tokens', key: 'tokens' } } };
    expect(containerOf(scaler).env).toContainEqual(metricsTokens);
    const scalerService = allOn.find((m) => m.kind === 'Service' && m.metadata.name === 'lagscale-keda-scaler') as unknown as {
      spec: { ports: { name: string; targetPort: string }[] };
    };
    expect(scalerService.spec.ports.map((port) => `${port.name}->${port.targetPort}`)).toEqual(['grpc->grpc', 'scaler-metrics->metrics']);
    expect(monitor.spec.endpoints.find((endpoint) => endpoint.port === 'scaler-metrics')?.authorization).toEqual({
      type: 'Bearer',
      credentials: { name: 'lagscale-exporter-tokens', key: 'token' },
    });
    // The token Secret is there with the scaler alone (same name and keys: an upgrade keeps the exporter's), or is yours.
    const scalerAlone = await template(['--set', 'kedaScaler.enabled=true', '--set', 'exporter.enabled=false', '--set', 'serviceMonitor.enabled=true']);
    const scalerAloneTokens = scalerAlone.find((m) => m.kind === 'Secret' && m.metadata.name === 'lagscale-exporter-tokens') as unknown as {
      data: { tokens: string; token: string };
    };
    const scalerAloneSecret = Buffer.from(scalerAloneTokens.data.token, 'base64').toString('utf8');
    expect(scalerAloneSecret).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(Buffer.from(scalerAloneTokens.data.tokens, 'base64').toString('utf8')).toBe(`prometheus:read:${scalerAloneSecret}`);
    expect(scalerAlone.filter((m) => m.kind === 'Deployment' && m.metadata.name === 'lagscale-exporter')).toEqual([]);
    const scalerAloneMonitor = scalerAlone.find((m) => m.kind === 'ServiceMonitor') as unknown as { spec: { endpoints: { port: string }[] } };
    expect(scalerAloneMonitor.spec.endpoints.map((endpoint) => endpoint.port)).toEqual(['metrics', 'http', 'scaler-metrics']);
    const yours = await template(['--values', ALL_ON_VALUES, '--set', 'exporter.tokensSecret=my-metrics-tokens']);
    expect(yours.filter((m) => m.kind === 'Secret' && m.metadata.name.endsWith('exporter-tokens'))).toEqual([]);
    for (const name of ['lagscale-exporter', 'lagscale-keda-scaler'])
      expect(containerOf(yours.find((m) => m.kind === 'Deployment' && m.metadata.name === name) as Manifest).env, name).toContainEqual({
        name: 'LAGSCALE_API_TOKENS',
        valueFrom: { secretKeyRef: { name: 'my-metrics-tokens', key: 'tokens' } },
      });
    const yourMonitor = yours.find((m) => m.kind === 'ServiceMonitor') as unknown as { spec: { endpoints: { authorization?: { credentials: unknown } }[] } };
    expect(yourMonitor.spec.endpoints.flatMap((endpoint) => (endpoint.authorization ? [endpoint.authorization.credentials] : []))).toEqual([
      { name: 'my-metrics-tokens', key: 'token' },
      { name: 'my-metrics-tokens', key: 'token' },
    ]);
    // Its bounds: the flags of those set (numbers as written, not 1e+06), none of those left null.
    const flagValue = (args: readonly string[], flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
    expect(['--max-states', '--state-idle', '--max-metadata-value-length', '--max-streams'].map((flag) => flagValue(scalerArgs, flag))).toEqual([
      '2000',
      '45m',
      '8192',
      '500',
    ]);
    const million = await template(['--values', ALL_ON_VALUES, '--set', 'kedaScaler.limits.maxStates=1000000']);
    const millionArgs = containerOf(million.find((m) => m.kind === 'Deployment' && m.metadata.name === 'lagscale-keda-scaler') as Manifest).args;
    expect(flagValue(millionArgs, '--max-states')).toBe('1000000');
    const secretsOf = (manifests: readonly Manifest[]) =>
      manifests
        .filter((m) => m.kind === 'Secret')
        .map((m) => `${m.metadata.namespace}/${m.metadata.name}`)
        .filter((s) => s.includes('keda-scaler'));
    expect(secretsOf(allOn).sort()).toEqual([
      'keda/lagscale-keda-scaler-client',
      'lagscale/lagscale-keda-scaler-client',
      'lagscale/lagscale-keda-scaler-tls',
      'lagscale/lagscale-keda-scaler-token',
    ]);
    const triggerAuthentication = allOn.find((m) => m.kind === 'ClusterTriggerAuthentication') as unknown as { spec: { secretTargetRef: unknown[] } };
    expect(triggerAuthentication.spec.secretTargetRef).toEqual([
      { parameter: 'caCert', name: 'lagscale-keda-scaler-client', key: 'ca.crt' },
      { parameter: 'tlsClientCert', name: 'lagscale-keda-scaler-client', key: 'tls.crt' },
      { parameter: 'tlsClientKey', name: 'lagscale-keda-scaler-client', key: 'tls.key' },
    ]);
    // Authentication is on by default: enabling the scaler alone serves TLS and requires client certificates.
    const scalerOnly = await template(['--set', 'kedaScaler.enabled=true']);
    const defaultScaler = scalerOnly.find((m) => m.kind === 'Deployment' && m.metadata.name === 'lagscale-keda-scaler') as Manifest;
    expect(containerOf(defaultScaler).args).toEqual(expect.arrayContaining(['--server-cert', '--server-key', '--client-ca']));
    expect(secretsOf(scalerOnly).sort()).toEqual(['lagscale/lagscale-keda-scaler-client', 'lagscale/lagscale-keda-scaler-tls']);
    expect(containerOf(defaultScaler).args.filter((arg) => /^--(max-|state-idle)/.test(arg))).toEqual([]);
    // Every flag a pod passes is one its subcommand lists in --help (a typo would stop the pod).
    const deployments = allOn.filter((m) => m.kind === 'Deployment');
    const subcommands = deployments.map((d) => containerOf(d).args[0]);
    expect(subcommands.sort()).toEqual(['api', 'controller', 'exporter', 'keda-scaler', 'worker']);
    for (const deployment of deployments) {
      const [subcommand, ...args] = containerOf(deployment).args as [string, ...string[]];
      const help = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [main, subcommand, '--help'], (error, stdout) => (error ? reject(error) : resolve(stdout))),
      );
      for (const flag of args.filter((arg) => arg.startsWith('--'))) expect(help, `${subcommand} ${flag}`).toContain(`${flag} `);
    }
    // The PrometheusRule holds deploy/prometheus/alerts.yaml's groups; the CRD is lagscale kube manifests'.
    const rule = allOn.find((m) => m.kind === 'PrometheusRule') as unknown as { spec: unknown };
    expect(rule.spec).toEqual(parse(readFileSync(ALERTS_FILE, 'utf8')));
    // The controller's RBAC is exactly what `lagscale kube manifests` grants it.
    const rules = (manifests: readonly Manifest[], kind: string) =>
      (manifests.find((m) => m.kind === kind && m.metadata.name.startsWith('lagscale-controller')) as unknown as { rules: unknown }).rules;
    expect(rules(defaults, 'ClusterRole')).toEqual(rules(controllerManifests(), 'ClusterRole'));
    expect(rules(defaults, 'Role')).toEqual(rules(controllerManifests(), 'Role'));
    const withCrds = await template(['--include-crds']);
    expect(withCrds.find((m) => m.kind === 'CustomResourceDefinition')).toEqual(scaledConsumerCrd());
  });

  it('runs the workers as a share group when workers.shareGroup is set: the workers and their ScaledConsumer both name it', async () => {
    const manifests = await template(['--set', 'workers.shareGroup=validators', '--set', 'workers.scaledConsumer.behavior.maxReplicas=24']);
    const workers = manifests.find((m) => m.kind === 'Deployment' && m.metadata.name.endsWith('-worker')) as Manifest;
    const args = containerOf(workers).args;
    expect(args.slice(args.indexOf('--share-group'), args.indexOf('--share-group') + 2)).toEqual(['--share-group', 'validators']);
    expect(args).not.toContain('--group');
    const scaled = manifests.find((m) => m.kind === 'ScaledConsumer') as unknown as { spec: Record<string, unknown> };
    expect(scaled.spec.shareGroup).toBe('validators');
    expect(scaled.spec.group).toBeUndefined();
    expect((scaled.spec.behavior as { maxReplicas: number }).maxReplicas).toBe(24);
  });

  it('points the workers and the API at Elasticsearch when store.engine is elasticsearch, with credentials or an API key from a Secret', async () => {
    const storeEnv = async (args: string[]) => {
      const manifests = await template(args);
      return ['lagscale-worker', 'lagscale-api'].map(
        (name) => containerOf(manifests.find((m) => m.kind === 'Deployment' && m.metadata.name === name) as Manifest).env ?? [],
      );
    };
    const names = (env: readonly { name: string }[]) => env.map((e) => e.name).filter((n) => /STORE|OPENSEARCH|ELASTICSEARCH/.test(n));
    for (const env of await storeEnv([])) expect(names(env)).toEqual(['OPENSEARCH_URL', 'OPENSEARCH_INDEX_PREFIX']);
    const elastic = await storeEnv([
      '--set',
      'store.engine=elasticsearch',
      '--set',
      'store.elasticsearch.url=https://es.search.svc:9200',
      '--set',
      'store.elasticsearch.apiKeySecret=es-key',
    ]);
    for (const env of elastic) {
      expect(env).toEqual(
        expect.arrayContaining([
          { name: 'LAGSCALE_STORE', value: 'elasticsearch' },
          { name: 'ELASTICSEARCH_URL', value: 'https://es.search.svc:9200' },
          { name: 'OPENSEARCH_INDEX_PREFIX', value: 'lagscale' },
          { name: 'LAGSCALE_STORE_API_KEY', valueFrom: { secretKeyRef: { name: 'es-key', key: 'apiKey' } } },
        ]),
      );
      expect(names(env)).not.toContain('OPENSEARCH_URL');
    }
    // What the pods get is what `lagscale worker` reads: the Elasticsearch store with its key.
    const { resolveStoreConfig } = await import('../../packages/cli/dist/store.js');
    const plain = Object.fromEntries((elastic[0] ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
    expect(resolveStoreConfig(undefined, undefined, { ...plain, LAGSCALE_STORE_API_KEY: 'k' })).toMatchObject({
      type: 'search-engine',
      engine: 'elasticsearch',
      url: ['https://es.search.svc:9200'],
      apiKey: 'k',
    });
    const basic = await storeEnv(['--set', 'store.engine=elasticsearch', '--set', 'store.elasticsearch.credentialsSecret=es-user']);
    expect(names(basic[0] ?? [])).toEqual(['LAGSCALE_STORE', 'ELASTICSEARCH_URL', 'OPENSEARCH_INDEX_PREFIX', 'OPENSEARCH_USERNAME', 'OPENSEARCH_PASSWORD']);
    const both = await helm([
      'template',
      'x',
      CHART_DIR,
      '--set',
      'store.engine=elasticsearch',
      '--set',
      'store.elasticsearch.credentialsSecret=a',
      '--set',
      'store.elasticsearch.apiKeySecret=b',
    ]);
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('store.elasticsearch.apiKeySecret: give an API key or credentialsSecret');
    const wrongEngine = await helm(['template', 'x', CHART_DIR, '--set', 'store.engine=solr']);
    expect(wrongEngine.stderr).toMatch(/at '\/store\/engine': value must be one of/);
  });

  it('refuses bad values, naming the path', async () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'controller.replicas=-1'], /at '\/controller\/replicas': minimum: got -1, want 0/],
      [['--set', 'workers.batchSize=many'], /at '\/workers\/batchSize': got string, want integer/],
      [['--set', 'exporter.bogus=1'], /at '\/exporter': additional properties 'bogus' not allowed/],
      [['--set', 'kafka.brokers[0]=no-port'], /at '\/kafka\/brokers\/0': 'no-port' does not match pattern/],
      [['--set', 'image.pullPolicy=Sometimes'], /at '\/image\/pullPolicy': value must be one of/],
      [['--set', 'api.port=70000'], /at '\/api\/port': maximum: got 70,?000, want 65,?535/],
      [['--set', 'kafka.sasl.mechanism=PLAIN'], /at '\/kafka\/sasl\/secretName': minLength: got 0, want 1/],
      [['--set', 'exporter.interval=soon'], /at '\/exporter\/interval': 'soon' does not match pattern/],
      // Beyond the schema: a given certificate needs its CA for the APIService.
      [['--set', 'controller.metricsApi.tls.secretName=mine'], /controller\.metricsApi\.tls\.caBundle: give the PEM of the CA/],
      [['--set', 'kedaScaler.enabled=true', '--set', 'kedaScaler.tls.enabled=false'], /kedaScaler\.auth\.clientCertificates: client certificates need TLS/],
      [['--set', 'kedaScaler.auth.token.bogus=1'], /at '\/kedaScaler\/auth\/token': additional properties 'bogus' not allowed/],
      [['--set', 'kedaScaler.limits.maxStates=0'], /at '\/kedaScaler\/limits\/maxStates': minimum: got 0, want 1/],
      [['--set', 'kedaScaler.limits.stateIdle=forever'], /at '\/kedaScaler\/limits\/stateIdle'/],
    ];
    for (const [args, expected] of cases) {
      const result = await helm(['template', 'lagscale', CHART_DIR, ...args]);
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr, args.join(' ')).toMatch(expected);
    }
    process.stderr.write(
      `[helm] ${cases.length} bad values refused, e.g.: ${(await helm(['template', 'x', CHART_DIR, '--set', 'controller.replicas=-1'])).stderr.trim().split('\n').at(-1)}\n`,
    );
  });

  it('keeps its copies equal to their sources, and deploy/manifests/lagscale.yaml equal to a fresh render (npx tsx deploy/helm/render.ts rewrites them)', async () => {
    expect(readFileSync(CRD_FILE, 'utf8')).toBe(renderCrd());
    expect(readFileSync(CHART_ALERTS_FILE, 'utf8')).toBe(readFileSync(ALERTS_FILE, 'utf8'));
    expect(readFileSync(CHART_FILE, 'utf8')).toBe(renderChartYaml());
    expect(readFileSync(PLAIN_MANIFESTS_FILE, 'utf8')).toBe(await renderPlainManifests(helmBinary));
  });

  describe('on a real API server (Kubernetes 1.37)', () => {
    let controlPlane: ControlPlane;
    let kubeConfig: KubeConfig;
    let kubelet: KubeletStandIn | undefined;

    beforeAll(async () => {
      controlPlane = await startControlPlane({ onProgress: (line) => process.stderr.write(`[kubernetes] ${line}\n`) });
      kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
    }, 30 * 60_000);

    afterAll(async () => {
      await kubelet?.stop();
      await controlPlane?.stop();
    });

    it('accepts every object the chart renders, with the defaults and with every part on (server-side apply, dry run)', { timeout: 120_000 }, async () => {
      // The CRDs for real (objects of a kind need it to exist): the chart's, and minimal
      // ServiceMonitor and PrometheusRule CRDs (any spec) standing in for prometheus-operator's.
      const monitoringCrd = (kind: string, plural: string): Manifest => ({
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${plural}.monitoring.coreos.com` },
        spec: {
          group: 'monitoring.coreos.com',
          scope: 'Namespaced',
          names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
            },
          ],
        },
      });
      // KEDA's ClusterTriggerAuthentication (cluster-scoped), standing in for KEDA's CRD likewise.
      const kedaCrd: Manifest = {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'clustertriggerauthentications.keda.sh' },
        spec: {
          group: 'keda.sh',
          scope: 'Cluster',
          names: {
            kind: 'ClusterTriggerAuthentication',
            plural: 'clustertriggerauthentications',
            singular: 'clustertriggerauthentication',
            listKind: 'ClusterTriggerAuthenticationList',
          },
          versions: [
            {
              name: 'v1alpha1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
            },
          ],
        },
      } as unknown as Manifest;
      const crds = [
        scaledConsumerCrd() as unknown as Manifest,
        monitoringCrd('ServiceMonitor', 'servicemonitors'),
        monitoringCrd('PrometheusRule', 'prometheusrules'),
        kedaCrd,
      ];
      await applyManifests(kubeConfig, crds);
      const extensions = kubeConfig.makeApiClient(ApiextensionsV1Api);
      for (const crd of crds) {
        await waitFor(`CRD ${crd.metadata.name} established`, async () =>
          (await extensions.readCustomResourceDefinition({ name: crd.metadata.name })).status?.conditions?.some(
            (c) => c.type === 'Established' && c.status === 'True',
          ),
        );
      }
      await applyManifests(kubeConfig, [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lagscale' } },
        // KEDA's namespace: the all-on values copy the scaler's client certificate there.
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'keda' } },
      ]);
      for (const [what, args] of [
        ['defaults', []],
        ['every part on', ['--values', ALL_ON_VALUES]],
      ] as const) {
        const manifests = await template(args);
        const applied = await applyManifests(kubeConfig, manifests, { dryRun: true, namespace: 'lagscale' });
        expect(applied.map((m) => m.kind)).toEqual(manifests.map((m) => m.kind));
        process.stderr.write(`[helm] dry run (${what}): the API server accepted ${applied.length} objects: ${kindCounts(manifests)}\n`);
      }
      // So were the plain manifests (their Namespace and CRD exist now).
      const plain = parseAllDocuments(readFileSync(PLAIN_MANIFESTS_FILE, 'utf8'))
        .map((d) => d.toJSON() as Manifest | null)
        .filter((m): m is Manifest => m !== null);
      expect((await applyManifests(kubeConfig, plain, { dryRun: true })).length).toBe(plain.length);
      process.stderr.write(`[helm] dry run: deploy/manifests/lagscale.yaml, ${plain.length} objects accepted\n`);
    });

    it('installs with helm; the controller pod from the chart becomes ready, scales the chart workers on real lag, serves the metrics API; uninstall leaves nothing', {
      timeout: 420_000,
    }, async () => {
      const suffix = Date.now().toString(36);
      const topic = `helm-${suffix}`;
      const group = `helm-${suffix}-validators`;
      // 10,000 records behind on 4 partitions, no consumer of this topic: the lag stays put.
      await createTopic(brokers, topic, 4);
      // The shared broker's validation.requests has the 8 partitions of ensureValidationTopics, as every test of the run expects.
      await createTopic(brokers, VALIDATION_TOPICS.requests, 8).catch(() => {});
      await produce(brokers, { topic, perPartition: { 0: 2500, 1: 2500, 2: 2500, 3: 2500 } });
      await commitOffsets(brokers, group, topic, { 0: 0, 1: 0, 2: 0, 3: 0 });
      const [controllerPort, metricsApiPort, apiPort, exporterPort] = (await freePorts(4)) as [number, number, number, number];
      const values = {
        image: { repository: 'lagscale', tag: 'test' },
        kafka: { brokers },
        store: { opensearch: { url: openSearchUrl, indexPrefix: `helm-${suffix}` } },
        controller: { replicas: 1, intervalSeconds: 1, port: controllerPort, metricsApi: { port: metricsApiPort } },
        exporter: { port: exporterPort, interval: '2s', groups: [group] },
        api: { port: apiPort },
        workers: {
          group,
          scaledConsumer: {
            topics: [topic],
            policy: { name: 'threshold', lagThreshold: 2500 },
            behavior: { minReplicas: 1, maxReplicas: 3 },
          },
        },
      };
      const valuesFile = join(mkdtempSync(join(tmpdir(), 'lagscale-helm-values-')), 'values.yaml');
      writeFileSync(valuesFile, JSON.stringify(values));

      // Pods run as local processes, with the image's entrypoint and environment (the Dockerfile's):
      // the built CLI; the workers (one fixed metrics port in the chart) get a free port each, as
      // each real pod has its own network.
      const image = imageOfDockerfile();
      expect(image.entrypoint, 'the Dockerfile runs the CLI').toContain(main);
      const standIn = new KubeletStandIn({
        kubeConfig,
        logger,
        entrypoint: image.entrypoint,
        serviceAccountCredentials: true,
        env: { ...image.env, LAGSCALE_LOG_LEVEL: 'warn' },
        adjustCommand: (pod, command) =>
          pod.metadata?.labels?.['app.kubernetes.io/component'] === 'worker'
            ? command.map((arg, i) => (command[i - 1] === '--port' ? '0' : arg))
            : [...command],
      });
      kubelet = standIn;
      await standIn.start();

      const started = Date.now();
      const install = await helm([
        'install',
        'lagscale',
        CHART_DIR,
        '--namespace',
        'lagscale',
        '--kubeconfig',
        controlPlane.kubeconfigPath,
        '--values',
        valuesFile,
      ]);
      expect(install.code, install.stderr).toBe(0);
      process.stderr.write(`[helm] helm install (${Date.now() - started} ms):\n${install.stdout}\n`);
      const manifest = await helm(['get', 'manifest', 'lagscale', '--namespace', 'lagscale', '--kubeconfig', controlPlane.kubeconfigPath]);
      const released = parseAllDocuments(manifest.stdout)
        .map((d) => d.toJSON() as Manifest | null)
        .filter((m): m is Manifest => m !== null);
      process.stderr.write(`[helm] the release holds ${released.length} objects: ${kindCounts(released)}\n`);

      const core = kubeConfig.makeApiClient(CoreV1Api);
      const apps = kubeConfig.makeApiClient(AppsV1Api);
      const controllerPod = await waitFor(
        'the controller pod to be Ready',
        async () => {
          const pods = await core.listNamespacedPod({ namespace: 'lagscale', labelSelector: 'app.kubernetes.io/component=controller' });
          return pods.items.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
        },
        60_000,
        250,
      );
      // The stand-in reports Ready when the process starts; the controller's own /readyz says it watches.
      const readyz = await waitFor(
        "the controller's /readyz",
        async () => {
          const answer = await fetch(`http://127.0.0.1:${controllerPort}/readyz`).catch(() => undefined);
          return answer?.status === 200 ? ((await answer.json()) as Record<string, unknown>) : undefined;
        },
        60_000,
        250,
      );
      process.stderr.write(`[helm] controller pod ${controllerPod.metadata?.name} Ready; /readyz ${JSON.stringify(readyz)}\n`);

      // It holds the Lease (the Role in its namespace), and scales the workers: ceil(10,000 / 2,500) = 4, at most 3.
      const lease = await waitFor('the Lease held by the controller pod', async () => {
        const found = await kubeConfig
          .makeApiClient(CoordinationV1Api)
          .readNamespacedLease({ name: 'lagscale-controller', namespace: 'lagscale' })
          .catch(() => undefined);
        return found?.spec?.holderIdentity ? found : undefined;
      });
      expect(lease.spec?.holderIdentity).toBe(controllerPod.metadata?.name);
      const replicas: number[] = [];
      await waitFor(
        'the worker Deployment scaled to 3',
        async () => {
          const deployment = await apps.readNamespacedDeployment({ name: 'lagscale-worker', namespace: 'lagscale' });
          if (replicas.at(-1) !== deployment.spec?.replicas) replicas.push(deployment.spec?.replicas ?? -1);
          return deployment.spec?.replicas === 3;
        },
        90_000,
        250,
      );
      const workerPods = () => [...standIn.running().keys()].filter((key) => key.startsWith('lagscale/lagscale-worker-'));
      await waitFor('three worker processes', async () => workerPods().length === 3, 90_000, 250);
      const custom = kubeConfig.makeApiClient(CustomObjectsApi);
      const scaledConsumer = await waitFor('the ScaledConsumer status', async () => {
        const resource = (await custom.getNamespacedCustomObject({
          group: SCALED_CONSUMER.group,
          version: SCALED_CONSUMER.version,
          namespace: 'lagscale',
          plural: SCALED_CONSUMER.plural,
          name: 'lagscale-worker',
        })) as ScaledConsumer;
        return resource.status?.desiredReplicas === 3 && resource.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? resource
          : undefined;
      });
      process.stderr.write(
        `[helm] worker replicas ${replicas.join(' → ')}; pods ${workerPods().join(', ')}; ScaledConsumer lastDecision ${JSON.stringify(scaledConsumer.status?.lastDecision)}\n`,
      );

      // The metrics API from the chart, called as the aggregator calls it: TLS checked against the
      // APIService's caBundle for the Service's name, the front-proxy client certificate, the HPA
      // controller as the user. That needs the chart's generated certificate to match its caBundle,
      // the auth-reader binding (the pod read the front-proxy CA at start), auth-delegator (the pod's
      // SubjectAccessReview) and the reader binding (the HPA may get the metric). The API server
      // itself cannot reach the pod here: without a pod network the Service has no endpoints (an
      // endpoint may not be a loopback address), so the APIService stays unavailable.
      const apiService = await kubeConfig.makeApiClient(ApiregistrationV1Api).readAPIService({ name: 'v1beta1.external.metrics.k8s.io' });
      const caBundle = Buffer.from(apiService.spec?.caBundle ?? '', 'base64').toString('utf8');
      expect(apiService.spec?.service).toMatchObject({ name: 'lagscale-metrics', namespace: 'lagscale', port: metricsApiPort });
      const asAggregator = (path: string, user: string): Promise<{ status: number; body: string }> =>
        new Promise((resolve, reject) => {
          const sent = httpsRequest(
            {
              host: '127.0.0.1',
              port: metricsApiPort,
              path,
              servername: 'lagscale-metrics.lagscale.svc',
              ca: caBundle,
              cert: readFileSync(controlPlane.certificates.frontProxyClient.cert),
              key: readFileSync(controlPlane.certificates.frontProxyClient.key),
              headers: { 'x-remote-user': user, 'x-remote-group': 'system:serviceaccounts', accept: 'application/json' },
            },
            (response) => {
              const chunks: Buffer[] = [];
              response.on('data', (chunk: Buffer) => chunks.push(chunk));
              response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
            },
          );
          sent.on('error', reject);
          sent.end();
        });
      const metricPath = `/apis/external.metrics.k8s.io/v1beta1/namespaces/lagscale/kafka_consumergroup_lag?labelSelector=consumergroup%3D${group}`;
      const lag = await waitFor('the lag from the metrics API', async () => {
        const answer = await asAggregator(metricPath, 'system:serviceaccount:kube-system:horizontal-pod-autoscaler');
        return answer.status === 200 ? (JSON.parse(answer.body) as { items: { value: string }[] }).items[0] : undefined;
      });
      expect(lag.value).toBe('10000');
      // Someone the chart granted nothing is refused.
      expect((await asAggregator(metricPath, 'system:serviceaccount:lagscale:nobody')).status).toBe(403);
      // The exporter and the API from the chart answer too, each with the token Secret the chart made.
      const exporterSecret = await core.readNamespacedSecret({ name: 'lagscale-exporter-tokens', namespace: 'lagscale' });
      const scrapeToken = Buffer.from(exporterSecret.data?.token ?? '', 'base64').toString('utf8');
      const exported = await waitFor('the exporter to export the group', async () => {
        const text = await (
          await fetch(`http://127.0.0.1:${exporterPort}/metrics`, { headers: { authorization: `Bearer ${scrapeToken}` } }).catch(() => undefined)
        )?.text();
        return text?.split('\n').find((line) => line.startsWith('kafka_consumergroup_lag_sum{') && line.includes(`"${group}"`) && line.includes(`"${topic}"`));
      });
      expect(exported).toMatch(/ 10000$/);
      // Without the token the exporter (listening beyond loopback) answers 401.
      expect((await fetch(`http://127.0.0.1:${exporterPort}/metrics`)).status).toBe(401);
      const health = await waitFor('the API /healthz', async () => (await fetch(`http://127.0.0.1:${apiPort}/healthz`).catch(() => undefined))?.status === 200);
      expect(health).toBe(true);
      const tokens = await core.readNamespacedSecret({ name: 'lagscale-api-tokens', namespace: 'lagscale' });
      const [tokenName, scope, secret] = Buffer.from(tokens.data?.tokens ?? '', 'base64')
        .toString('utf8')
        .split(':') as [string, string, string];
      expect([tokenName, scope, secret.length]).toEqual(['admin', 'admin', 40]);
      const jobs = (authorization?: string) =>
        fetch(`http://127.0.0.1:${apiPort}/api/v1/jobs`, authorization === undefined ? {} : { headers: { authorization } }).then((r) => r.status);
      expect(await jobs()).toBe(401);
      expect(await jobs(`Bearer ${secret}`)).toBe(200);
      const page = await fetch(`http://127.0.0.1:${apiPort}/`);
      expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
      process.stderr.write(
        `[helm] metrics API: kafka_consumergroup_lag ${lag.value}; exporter: ${exported}; API: /healthz 200, /api/v1/jobs 401 without a token and 200 with the chart's, console / 200\n`,
      );

      // An upgrade keeps what the chart generated (the metrics API's CA and certificate, the API
      // token) and the workers' replicas the ScaledConsumer owns.
      const generated = async () => {
        const tls = await core.readNamespacedSecret({ name: 'lagscale-metrics-tls', namespace: 'lagscale' });
        const api = await core.readNamespacedSecret({ name: 'lagscale-api-tokens', namespace: 'lagscale' });
        return { ca: tls.data?.['ca.crt'], cert: tls.data?.['tls.crt'], tokens: api.data?.tokens };
      };
      const beforeUpgrade = await generated();
      const upgrade = await helm([
        'upgrade',
        'lagscale',
        CHART_DIR,
        '--namespace',
        'lagscale',
        '--kubeconfig',
        controlPlane.kubeconfigPath,
        '--values',
        valuesFile,
      ]);
      expect(upgrade.code, upgrade.stderr).toBe(0);
      expect(await generated()).toEqual(beforeUpgrade);
      expect((await apps.readNamespacedDeployment({ name: 'lagscale-worker', namespace: 'lagscale' })).spec?.replicas).toBe(3);
      process.stderr.write('[helm] helm upgrade (revision 2): the CA, certificate and API token kept; the workers stay at 3 replicas\n');

      // Uninstall: every object of the release is gone, and every pod process stopped.
      const uninstall = await helm([
        'uninstall',
        'lagscale',
        '--namespace',
        'lagscale',
        '--kubeconfig',
        controlPlane.kubeconfigPath,
        '--wait',
        '--timeout',
        '3m',
      ]);
      expect(uninstall.code, uninstall.stderr).toBe(0);
      process.stderr.write(`[helm] helm uninstall: ${uninstall.stdout.trim()}\n`);
      const objects = kubeConfig.makeApiClient(KubernetesObjectApi);
      const remaining = async (): Promise<string[]> => {
        const left: string[] = [];
        for (const object of released) {
          const found = await objects
            .read({
              apiVersion: object.apiVersion,
              kind: object.kind,
              metadata: { name: object.metadata.name, namespace: object.metadata.namespace ?? 'lagscale' },
            })
            .catch(() => undefined);
          if (found !== undefined) left.push(`${object.kind} ${object.metadata.name}`);
        }
        const pods = await core.listNamespacedPod({ namespace: 'lagscale', labelSelector: 'app.kubernetes.io/instance=lagscale' });
        left.push(...pods.items.map((p) => `Pod ${p.metadata?.name}`));
        const replicaSets = await apps.listNamespacedReplicaSet({ namespace: 'lagscale', labelSelector: 'app.kubernetes.io/instance=lagscale' });
        left.push(...replicaSets.items.map((r) => `ReplicaSet ${r.metadata?.name}`));
        // helm's own record of the release (one Secret per revision).
        const records = await core.listNamespacedSecret({ namespace: 'lagscale', labelSelector: 'owner=helm,name=lagscale' });
        left.push(...records.items.map((r) => `Secret ${r.metadata?.name}`));
        left.push(...[...standIn.running().keys()].filter((key) => key.startsWith('lagscale/')).map((key) => `process of ${key}`));
        return left;
      };
      await waitFor('nothing of the release left', async () => (await remaining()).length === 0, 120_000, 500).catch(async (error: Error) => {
        throw new Error(`${error.message}; left: ${(await remaining()).join(', ')}`);
      });
      expect(await remaining()).toEqual([]);
      // helm never deletes what crds/ installed: the CRD stays for other releases and the custom resources.
      const crd = await kubeConfig.makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: 'scaledconsumers.lagscale.dev' });
      expect(crd.metadata?.name).toBe('scaledconsumers.lagscale.dev');
      process.stderr.write(
        `[helm] after helm uninstall: none of the ${released.length} objects, no pod, no ReplicaSet, no release record, no process left (the CRD stays, as helm does)\n`,
      );
    });
  });
});
