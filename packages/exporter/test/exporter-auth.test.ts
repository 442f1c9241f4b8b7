import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiConfigError,
  type ApiToken,
  BROWSER_HEADERS,
  createExporterServer,
  createLogger,
  type ExporterAuthOptions,
  serverOptions,
} from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, expectBrowserHeaders, get, sendRaw } from './http-client.js';

const logger = createLogger('exporter-auth-test', 'silent') as FastifyBaseLogger;
const prometheusSecret = 'prometheus-scrape-0123456789';
const tokens: ApiToken[] = [{ name: 'prometheus', scope: 'read', secret: prometheusSecret }];
const bearer = { authorization: `Bearer ${prometheusSecret}` };

/** A monitor that is never started: no Kafka is needed, /healthz says `starting` and /api/v1/groups `not_ready`. */
function idleMonitor(): LagMonitor {
  return new LagMonitor({ connection: { brokers: ['127.0.0.1:9'] }, intervalSeconds: 5 });
}

async function exporterOn(auth: ExporterAuthOptions): Promise<{ app: FastifyInstance; port: number }> {
  const app = await createExporterServer({ monitor: idleMonitor(), logger, auth });
  await app.listen({ host: auth.host, port: 0 });
  return { app, port: (app.server.address() as { port: number }).port };
}

const errorCode = (answer: Answer): unknown => (JSON.parse(answer.body) as { error?: unknown }).error;

describe('lagscale exporter beyond loopback follows the API rules', () => {
  it('refuses to serve on a non-loopback address without tokens, saying what to set', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'exporter.internal']) {
      const starting = createExporterServer({ monitor: idleMonitor(), logger, auth: { host, tokens: [] } });
      await expect(starting, host).rejects.toThrow(ApiConfigError);
      await expect(starting, host).rejects.toThrow(
        new RegExp(
          `refusing to serve lag metrics on ${host.replaceAll('.', '\\.')} without API tokens: .*read every consumer group.*LAGSCALE_API_TOKENS=name:scope:secret.*or listen on 127\\.0\\.0\\.1`,
        ),
      );
    }
    for (const host of ['127.0.0.1', 'localhost', '::1']) {
      const app = await createExporterServer({ monitor: idleMonitor(), logger, auth: { host, tokens: [] } });
      await app.close();
    }
  });

  describe('bound to 0.0.0.0 with a read token', () => {
    let app: FastifyInstance;
    let port: number;
    beforeAll(async () => {
      ({ app, port } = await exporterOn({ host: '0.0.0.0', tokens }));
    });
    afterAll(() => app.close());

    it('answers /metrics and /api/v1 only with the token; /healthz and /readyz stay open for probes', async () => {
      for (const path of ['/metrics', '/api/v1/groups', '/api/v1/groups/orders', '/api/v1/nothing-here', '/%61pi/v1/groups']) {
        const without = await get(port, path);
        expect(without.status, path).toBe(401);
        expect(without.headers['www-authenticate'], path).toBe('Bearer');
        expect(errorCode(without), path).toBe('unauthorized');
        const wrong = await get(port, path, { authorization: 'Bearer not-the-prometheus-token-000' });
        expect(wrong.status, path).toBe(401);
      }
      const metrics = await get(port, '/metrics', bearer);
      expect(metrics.status).toBe(200);
      expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(metrics.body).toContain('# TYPE lagscale_collection_duration_seconds histogram');
      // Authorized: the monitor has collected nothing yet, which is what it says.
      const groups = await get(port, '/api/v1/groups', bearer);
      expect(groups.status).toBe(503);
      expect(errorCode(groups)).toBe('not_ready');
      const missing = await get(port, '/api/v1/nothing-here', bearer);
      expect(missing.status).toBe(404);
      for (const path of ['/healthz', '/readyz']) {
        const probe = await get(port, path, { host: `10.1.2.3:${port}` });
        expect(probe.status, path).toBe(503);
        expect(JSON.parse(probe.body), path).toMatchObject({ status: 'starting' });
      }
    });

    it('serves any Host once a token is needed (a Service name, a pod address)', async () => {
      const answer = await get(port, '/metrics', { ...bearer, host: `lagscale-exporter.monitoring.svc:${port}` });
      expect(answer.status).toBe(200);
    });
  });

  describe('on loopback without tokens', () => {
    let app: FastifyInstance;
    let port: number;
    beforeAll(async () => {
      ({ app, port } = await exporterOn({ host: '127.0.0.1', tokens: [], allowedHosts: ['lag.internal'] }));
    });
    afterAll(() => app.close());

    it('answers a loopback Host and the allowed names; another Host (a DNS-rebinding page) gets 421', async () => {
      for (const host of ['127.0.0.1', `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `lag.internal:${port}`]) {
        expect((await get(port, '/metrics', { host })).status, host).toBe(200);
      }
      for (const path of ['/metrics', '/api/v1/groups', '/healthz', '/nowhere']) {
        for (const host of [`attacker.example:${port}`, 'attacker.example', `127.0.0.1.attacker.example:${port}`, `lag.internal.attacker.example`]) {
          const refused = await get(port, path, { host });
          expect(refused.status, `${path} Host ${host}`).toBe(421);
          expect(errorCode(refused), `${path} Host ${host}`).toBe('host_not_allowed');
        }
      }
    });
  });
});

describe('browser headers on every answer of a lagscale server', () => {
  let app: FastifyInstance;
  let port: number;
  beforeAll(async () => {
    ({ app, port } = await exporterOn({ host: '127.0.0.1', tokens: [] }));
  });
  afterAll(() => app.close());

  it('sends them on metrics, JSON, health, 401, 404, 421 and on what fastify or the HTTP parser refuse', async () => {
    const cases: [string, Answer, number][] = [
      ['metrics', await get(port, '/metrics'), 200],
      ['health', await get(port, '/healthz'), 503],
      ['JSON', await get(port, '/api/v1/groups'), 503],
      ['404', await get(port, '/nowhere'), 404],
      ['421', await get(port, '/metrics', { host: 'attacker.example' }), 421],
    ];
    const withTokens = await exporterOn({ host: '127.0.0.1', tokens });
    try {
      cases.push(['401', await get(withTokens.port, '/metrics'), 401]);
      cases.push(['401 under /api', await get(withTokens.port, '/api/v1/groups/x'), 401]);
    } finally {
      await withTokens.app.close();
    }
    for (const [where, answer, status] of cases) {
      expect(answer.status, where).toBe(status);
      expectBrowserHeaders(answer.headers, where);
      // Not the console: nothing may be loaded by a document served here.
      expect(answer.headers['content-security-policy'], where).toBe(BROWSER_HEADERS['content-security-policy']);
    }
    const request = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`;
    const refusals: [string, string, number][] = [
      ['a URL that is not UTF-8', request('/%E0%A4%A'), 400],
      ['a malformed header', 'GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n', 400],
      ['headers too large', request('/', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431],
    ];
    for (const [where, raw, status] of refusals) {
      const answer = await sendRaw(port, raw);
      expect(answer.status, where).toBe(status);
      expectBrowserHeaders(answer.headers, where);
    }
  });

  it('sends them from a server built on serverOptions over TLS (as the external metrics API is), which stays TLS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-tls-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1'],
      {
        cwd: dir,
        stdio: 'ignore',
      },
    );
    const tlsApp = Fastify({
      ...serverOptions(logger),
      https: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    });
    tlsApp.get('/healthz', async () => 'ok');
    await tlsApp.listen({ host: '127.0.0.1', port: 0 });
    try {
      const tlsPort = (tlsApp.server.address() as { port: number }).port;
      const answer = await get(tlsPort, '/healthz', {}, { https: true });
      expect(answer.status).toBe(200);
      expectBrowserHeaders(answer.headers, 'TLS');
      // Plain HTTP on the TLS port is not answered as HTTP.
      await expect(get(tlsPort, '/healthz')).rejects.toThrow();
    } finally {
      await tlsApp.close();
    }
  });

  it("builds the server with fastify's timeouts (keep-alive 72 s)", async () => {
    const bare = Fastify(serverOptions(logger));
    await bare.ready();
    expect(bare.server.keepAliveTimeout).toBe(72_000);
    await bare.close();
  });
});
