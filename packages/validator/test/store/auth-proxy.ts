import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from '../../../../test-support/prometheus.js';

/** What the proxy lets through: basic credentials, API keys, and keys that may not read `GET /`. */
export interface ProxyAccess {
  readonly basic: { readonly username: string; readonly password: string };
  readonly apiKey: string;
  /** An API key allowed everything but the root answer (Elasticsearch's `monitor` privilege). */
  readonly apiKeyWithoutRoot: string;
}

export interface AuthProxy {
  readonly url: string;
  /** The PEM of the self-signed certificate the proxy serves (its own CA). */
  readonly ca: string;
  close(): Promise<void>;
}

/**
 * An HTTPS proxy in front of a node that has no security of its own (x-pack security and
 * OpenSearch's security plugin are not on Maven Central): it answers 401 as a secured cluster
 * does unless the request carries the right `Authorization`, and 403 on `GET /` for the key
 * without the root privilege. It proves what the store sends and how it takes the answers; it
 * does not prove a real cluster's security accepts them.
 */
export async function startAuthProxy(target: string, access: ProxyAccess): Promise<AuthProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'lagscale-store-tls-'));
  const { cert, key } = selfSignedCertificate(dir);
  const ca = readFileSync(cert, 'utf8');
  const basic = `Basic ${Buffer.from(`${access.basic.username}:${access.basic.password}`).toString('base64')}`;
  const server: Server = createServer({ cert: ca, key: readFileSync(key) }, (incoming, outgoing) => {
    const authorization = incoming.headers.authorization;
    const refuse = (status: number, type: string, reason: string): void => {
      outgoing.writeHead(status, { 'content-type': 'application/json' });
      outgoing.end(JSON.stringify({ error: { type, reason }, status }));
    };
    if (authorization !== basic && authorization !== `ApiKey ${access.apiKey}` && authorization !== `ApiKey ${access.apiKeyWithoutRoot}`) {
      refuse(401, 'security_exception', 'unable to authenticate');
      return;
    }
    if (authorization === `ApiKey ${access.apiKeyWithoutRoot}` && (incoming.url === '/' || incoming.url?.startsWith('/?'))) {
      refuse(403, 'security_exception', 'action [cluster:monitor/main] is unauthorized');
      return;
    }
    const forwarded = httpRequest(
      `${target}${incoming.url}`,
      { method: incoming.method, headers: { ...incoming.headers, host: new URL(target).host } },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => refuse(502, 'proxy_error', 'the node did not answer'));
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    ca,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
