import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its private key, as PEM file paths. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

/** Paths of every PEM file the test control plane uses; all made fresh for each start. */
export interface ControlPlaneCertificates {
  readonly dir: string;
  /** Signs every serving and client certificate below except the front proxy's. */
  readonly ca: KeyPair;
  /** Signs the front proxy's client certificate: what aggregated API servers trust for X-Remote-User. */
  readonly frontProxyCa: KeyPair;
  readonly apiServerServing: KeyPair;
  readonly etcdServing: KeyPair;
  readonly controllerManagerServing: KeyPair;
  readonly apiServerEtcdClient: KeyPair;
  /** O=system:masters: cluster-admin through RBAC's bootstrap bindings. */
  readonly adminClient: KeyPair;
  /** CN=system:kube-controller-manager. */
  readonly controllerManagerClient: KeyPair;
  /** CN=front-proxy-client, signed by the front-proxy CA. */
  readonly frontProxyClient: KeyPair;
  /** RSA key pair that signs and verifies service account tokens. */
  readonly serviceAccount: { readonly privateKey: string; readonly publicKey: string };
}

/** The API server's names: how clients on this machine and pods (if there were any) reach it. */
const API_SERVER_NAMES = [
  'IP:127.0.0.1',
  'IP:10.0.0.1',
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
];

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(
      `openssl ${args[0]} failed while making the Kubernetes test certificates in ${cwd}: ${detail.trim()}. Install openssl to run the test control plane.`,
    );
  }
}

// P-256 keys: generated in milliseconds (RSA takes ~100 ms each on a busy machine, eleven times).
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeCa(dir: string, name: string, commonName: string): Promise<KeyPair> {
  await openssl(dir, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '30',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,digitalSignature,keyCertSign,cRLSign',
  ]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** Issues a certificate signed by `ca` into `dir` (`<name>.crt`, `<name>.key`); `names` are subjectAltName entries (`DNS:x`, `IP:y`). */
export async function issueCertificate(
  dir: string,
  ca: KeyPair,
  name: string,
  subject: string,
  usage: 'serverAuth' | 'clientAuth' | 'serverAuth,clientAuth',
  names: string[] = [],
): Promise<KeyPair> {
  await openssl(dir, ['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  const extensions = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', `extendedKeyUsage=${usage}`];
  if (names.length > 0) extensions.push(`subjectAltName=${names.join(',')}`);
  await writeFile(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    // A random serial, not -CAcreateserial: certificates are issued in parallel from one CA.
    '-set_serial',
    `0x${randomBytes(16).toString('hex')}`,
    '-out',
    `${name}.crt`,
    '-days',
    '30',
    '-extfile',
    `${name}.ext`,
  ]);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** Makes a fresh CA, front-proxy CA, serving and client certificates and a service account key in `dir`. */
export async function makeControlPlaneCertificates(dir: string): Promise<ControlPlaneCertificates> {
  const [ca, frontProxyCa] = await Promise.all([
    makeCa(dir, 'ca', 'lagscale test Kubernetes CA'),
    makeCa(dir, 'front-proxy-ca', 'lagscale test front-proxy CA'),
  ]);
  const loopback = ['IP:127.0.0.1', 'DNS:localhost'];
  const [apiServerServing, etcdServing, controllerManagerServing, apiServerEtcdClient, adminClient, controllerManagerClient, frontProxyClient] =
    await Promise.all([
      issueCertificate(dir, ca, 'kube-apiserver', '/CN=kube-apiserver', 'serverAuth', API_SERVER_NAMES),
      issueCertificate(dir, ca, 'etcd', '/CN=etcd', 'serverAuth', loopback),
      issueCertificate(dir, ca, 'kube-controller-manager-serving', '/CN=kube-controller-manager', 'serverAuth', loopback),
      issueCertificate(dir, ca, 'kube-apiserver-etcd-client', '/CN=kube-apiserver-etcd-client', 'clientAuth'),
      issueCertificate(dir, ca, 'admin', '/O=system:masters/CN=lagscale-admin', 'clientAuth'),
      issueCertificate(dir, ca, 'kube-controller-manager', '/CN=system:kube-controller-manager', 'clientAuth'),
      issueCertificate(dir, frontProxyCa, 'front-proxy-client', '/CN=front-proxy-client', 'clientAuth'),
    ]);
  await openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'service-account.key']);
  await openssl(dir, ['pkey', '-in', 'service-account.key', '-pubout', '-out', 'service-account.pub']);
  return {
    dir,
    ca,
    frontProxyCa,
    apiServerServing,
    etcdServing,
    controllerManagerServing,
    apiServerEtcdClient,
    adminClient,
    controllerManagerClient,
    frontProxyClient,
    serviceAccount: { privateKey: join(dir, 'service-account.key'), publicKey: join(dir, 'service-account.pub') },
  };
}
