import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files for a throwaway test CA, a broker certificate for 127.0.0.1 and a client certificate. */
export interface TestCertificates {
  readonly caCert: string;
  readonly brokerKeystore: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`openssl ${args[0]} failed while making test certificates in ${cwd}: ${detail.trim()}. Install openssl to use the secure listeners.`);
  }
}

async function issue(dir: string, name: string, subject: string, extensions: string): Promise<void> {
  await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '30',
    '-extfile',
    `${name}.ext`,
  ]);
  // Kafka's PEM key store wants the private key in PKCS#8.
  await openssl(dir, ['pkcs8', '-topk8', '-nocrypt', '-in', `${name}.key`, '-out', `${name}.pk8`]);
}

export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=lagscale test CA']);
  await issue(dir, 'broker', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await issue(dir, 'client', '/CN=lagscale-client', 'extendedKeyUsage=clientAuth\n');
  const keystore = join(dir, 'broker-keystore.pem');
  await writeFile(keystore, `${await readFile(join(dir, 'broker.pk8'), 'utf8')}${await readFile(join(dir, 'broker.crt'), 'utf8')}`);
  return { caCert: join(dir, 'ca.crt'), brokerKeystore: keystore, clientCert: join(dir, 'client.crt'), clientKey: join(dir, 'client.pk8') };
}
