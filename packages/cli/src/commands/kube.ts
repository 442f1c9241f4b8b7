import { writeFileSync } from 'node:fs';
import { controllerManifests, externalMetricsManifests, startControlPlane } from '@lagscale/kubernetes';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseInteger } from '../config.js';
import { untilStopSignal } from '../runtime.js';

interface ManifestFlags {
  namespace: string;
  image: string;
  replicas: string;
  metricsCaFile?: string;
  metricsPort: string;
}

export function registerKubeCommand(program: Command): void {
  const kube = program.command('kube').description('Kubernetes: the manifests to install the controller, and a local control plane for trying it');
  kube
    .command('manifests')
    .description(
      'print the CRD, RBAC and controller Deployment as YAML (kubectl apply -f -); with --metrics-ca-file also the external metrics API registration',
    )
    .option('-n, --namespace <ns>', 'namespace of the controller', 'lagscale')
    .option('--image <image>', 'image that runs lagscale', 'lagscale:latest')
    .option('--replicas <n>', 'controller pods (one leads through a Lease)', '2')
    .option('--metrics-ca-file <file>', "CA (PEM) that signed the metrics API's serving certificate: adds the APIService and its Service and RBAC")
    .option('--metrics-port <port>', 'port of the external metrics API', '6443')
    .action(async (flags: ManifestFlags) => {
      const { readFileSync } = await import('node:fs');
      const manifests = controllerManifests({ namespace: flags.namespace, image: flags.image, replicas: parseInteger(flags.replicas, '--replicas', 1, 10) });
      if (flags.metricsCaFile !== undefined)
        manifests.push(
          ...externalMetricsManifests({
            namespace: flags.namespace,
            port: parseInteger(flags.metricsPort, '--metrics-port', 1, 65535),
            caBundle: readFileSync(flags.metricsCaFile, 'utf8'),
          }),
        );
      process.stdout.write(
        `# lagscale ${flags.metricsCaFile === undefined ? 'controller' : 'controller and external metrics API'}: lagscale kube manifests${flags.namespace === 'lagscale' ? '' : ` -n ${flags.namespace}`}\n`,
      );
      process.stdout.write(manifests.map((manifest) => `---\n${stringify(manifest, { lineWidth: 0 })}`).join(''));
    });
  kube
    .command('start')
    .description(
      'start a local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager; built from source on first use) and write its kubeconfig',
    )
    .option('--kubeconfig <file>', 'also write the admin kubeconfig here')
    .action(async (flags: { kubeconfig?: string }) => {
      const controlPlane = await startControlPlane({ onProgress: (line) => process.stderr.write(`${line}\n`) });
      if (flags.kubeconfig !== undefined) {
        const { readFileSync } = await import('node:fs');
        writeFileSync(flags.kubeconfig, readFileSync(controlPlane.kubeconfigPath), { mode: 0o600 });
      }
      process.stdout.write(`${JSON.stringify({ server: controlPlane.server, kubeconfig: flags.kubeconfig ?? controlPlane.kubeconfigPath })}\n`);
      process.stderr.write(
        `Kubernetes ${controlPlane.kubernetesVersion} at ${controlPlane.server}; kubeconfig ${flags.kubeconfig ?? controlPlane.kubeconfigPath}. Ctrl-C stops it.\n`,
      );
      try {
        await untilStopSignal();
      } finally {
        await controlPlane.stop();
      }
    });
}
