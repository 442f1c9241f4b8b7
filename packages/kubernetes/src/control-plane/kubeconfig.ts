import { readFile, writeFile } from 'node:fs/promises';

export interface KubeconfigOptions {
  /** API server URL, e.g. https://127.0.0.1:6443. */
  readonly server: string;
  /** PEM files: the CA that signed the API server's certificate, and the client's certificate and key. */
  readonly caCertPath: string;
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  /** Name of the cluster, user and context entries; default `lagscale`. */
  readonly name?: string;
}

/**
 * Writes a kubeconfig that authenticates with a client certificate, the PEM data embedded so
 * the file works on its own (`KubeConfig.loadFromFile`, client-go, kubectl). Returns `path`.
 */
export async function writeKubeconfig(path: string, options: KubeconfigOptions): Promise<string> {
  const name = options.name ?? 'lagscale';
  const [ca, cert, key] = await Promise.all([readFile(options.caCertPath), readFile(options.clientCertPath), readFile(options.clientKeyPath)]);
  const base64 = (pem: Buffer): string => pem.toString('base64');
  const yaml = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${name}`,
    '  cluster:',
    `    server: ${options.server}`,
    `    certificate-authority-data: ${base64(ca)}`,
    'users:',
    `- name: ${name}`,
    '  user:',
    `    client-certificate-data: ${base64(cert)}`,
    `    client-key-data: ${base64(key)}`,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    `    cluster: ${name}`,
    `    user: ${name}`,
    `current-context: ${name}`,
    '',
  ].join('\n');
  await writeFile(path, yaml, { mode: 0o600 });
  return path;
}
