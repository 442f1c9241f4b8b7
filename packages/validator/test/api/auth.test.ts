import { networkInterfaces } from 'node:os';
import {
  ApiConfigError,
  type ApiToken,
  assertApiListenAllowed,
  isLoopbackHost,
  parseApiTokens,
  registerApiAuth,
  type SqliteResultStore,
} from '@lagscale/validator';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, rawRequest, smallRuleSet, tempStore } from './helpers.js';

const secrets = { reader: 'r'.repeat(24), writer: 'w-0123456789abcdef', admin: 'a:with:colons-0123456789' };
const tokens: ApiToken[] = parseApiTokens(`reader:read:${secrets.reader}, writer:write:${secrets.writer},ops:admin:${secrets.admin}`);
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe('token configuration', () => {
  it('parses name:scope:secret entries (the secret may hold colons)', () => {
    expect(tokens).toEqual([
      { name: 'reader', scope: 'read', secret: secrets.reader },
      { name: 'writer', scope: 'write', secret: secrets.writer },
      { name: 'ops', scope: 'admin', secret: secrets.admin },
    ]);
    expect(parseApiTokens(' ,, ')).toEqual([]);
  });

  it('says which entry is wrong and why, without printing a secret', () => {
    const cases: [string, string][] = [
      ['ci:write', 'LAGSCALE_API_TOKENS entry 1 is not name:scope:secret (it has one colon)'],
      [`ci:wirte:${secrets.writer}`, 'LAGSCALE_API_TOKENS token 1 ("ci"): the scope is "wirte"; it must be read, write or admin'],
      ['ci:write:short', 'LAGSCALE_API_TOKENS token 1 ("ci"): the secret must be at least 16 characters'],
      [`a:read:${secrets.reader},a:write:${secrets.writer}`, 'LAGSCALE_API_TOKENS token 2 ("a"): the name is used by another token'],
      [`a:read:${secrets.reader},b:write:${secrets.reader}`, 'LAGSCALE_API_TOKENS token 2 ("b"): the secret is used by another token'],
      [`:read:${secrets.reader}`, 'LAGSCALE_API_TOKENS token 1: the name must be 1 to 64 letters'],
    ];
    for (const [text, message] of cases) {
      let error: unknown;
      try {
        parseApiTokens(text);
      } catch (e) {
        error = e;
      }
      expect(error, text).toBeInstanceOf(ApiConfigError);
      expect((error as Error).message).toContain(message);
      expect((error as Error).message).not.toContain(secrets.writer);
      expect((error as Error).message).not.toContain(secrets.reader);
    }
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', 'example.org', '::ffff:10.0.0.1', '128.0.0.1'])
      expect(isLoopbackHost(host), host).toBe(false);
  });

  it('refuses to serve beyond loopback without tokens, with what to do', () => {
    expect(() => assertApiListenAllowed('0.0.0.0', [])).toThrow(
      /refusing to serve the API on 0\.0\.0\.0 without API tokens: .*\(LAGSCALE_API_TOKENS=name:scope:secret.*or listen on 127\.0\.0\.1/,
    );
    expect(() => assertApiListenAllowed('::', [])).toThrow(ApiConfigError);
    expect(() => assertApiListenAllowed('127.0.0.1', [])).not.toThrow();
    expect(() => assertApiListenAllowed('0.0.0.0', tokens)).not.toThrow();
  });
});

describe('API with tokens', () => {
  let store: SqliteResultStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = tempStore();
    app = await buildApi({ store, tokens });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('answers 401 without a token, with a malformed header, or with an unknown token', async () => {
    const none = await app.inject({ method: 'GET', url: '/api/v1/rulesets' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(none.json()).toEqual({ error: 'unauthorized', message: 'this route needs an API token: send "Authorization: Bearer <token>"' });
    const basic = await app.inject({ method: 'GET', url: '/api/v1/rulesets', headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().message).toContain('must be "Bearer <token>"');
    const unknown = await app.inject({ method: 'GET', url: '/api/v1/rulesets', headers: bearer('x'.repeat(32)) });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json().message).toContain('unknown API token');
    // unknown routes under /api need a token too: nothing is told about them without one
    expect((await app.inject({ method: 'GET', url: '/api/v1/nothing' })).statusCode).toBe(401);
  });

  it('lets a read token read and answers 403 on a write route, naming the scope needed', async () => {
    const read = await app.inject({ method: 'GET', url: '/api/v1/rulesets', headers: bearer(secrets.reader) });
    expect(read.statusCode).toBe(200);
    const write = await app.inject({ method: 'POST', url: '/api/v1/rulesets', headers: bearer(secrets.reader), payload: smallRuleSet('auth') });
    expect(write.statusCode).toBe(403);
    expect(write.json()).toEqual({ error: 'forbidden', message: 'token "reader" has scope read; POST /api/v1/rulesets needs scope write' });
    const upload = await app.inject({ method: 'POST', url: '/api/v1/jobs?ruleSet=auth', headers: bearer(secrets.reader), payload: '{}' });
    expect(upload.statusCode).toBe(403);
    expect(await store.getRuleSet('auth')).toBeUndefined();
  });

  it('lets write and admin tokens write (each scope includes the ones before)', async () => {
    const writer = await app.inject({ method: 'POST', url: '/api/v1/rulesets', headers: bearer(secrets.writer), payload: smallRuleSet('auth') });
    expect(writer.statusCode).toBe(201);
    const admin = await app.inject({ method: 'POST', url: '/api/v1/rulesets', headers: bearer(secrets.admin), payload: smallRuleSet('auth') });
    expect(admin.statusCode).toBe(201);
    expect(admin.json().version).toBe(2);
    const adminReads = await app.inject({ method: 'GET', url: '/api/v1/rulesets/auth', headers: bearer(secrets.admin) });
    expect(adminReads.statusCode).toBe(200);
  });

  it('needs no token for /healthz and /openapi.json', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/openapi.json' })).statusCode).toBe(200);
  });
});

describe('routes of other parts opt in by their config', () => {
  it('checks the scope a route declares (admin), and read for a plain GET under /api', async () => {
    const app = Fastify();
    registerApiAuth(app, { tokens });
    app.post('/api/v1/autoscaler/pause', { config: { scope: 'admin' } }, async () => ({ paused: true }));
    app.get('/api/v1/groups', async () => ({ groups: [] }));
    app.get('/metrics', async () => 'ok');
    try {
      const writer = await app.inject({ method: 'POST', url: '/api/v1/autoscaler/pause', headers: bearer(secrets.writer) });
      expect(writer.statusCode).toBe(403);
      expect(writer.json().message).toBe('token "writer" has scope write; POST /api/v1/autoscaler/pause needs scope admin');
      expect((await app.inject({ method: 'POST', url: '/api/v1/autoscaler/pause', headers: bearer(secrets.admin) })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/api/v1/groups' })).statusCode).toBe(401);
      expect((await app.inject({ method: 'GET', url: '/api/v1/groups', headers: bearer(secrets.reader) })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('API without tokens', () => {
  const outside = Object.values(networkInterfaces())
    .flat()
    .find((address) => address !== undefined && address.family === 'IPv4' && !address.internal)?.address;

  it('serves loopback clients without a token', async () => {
    const store = tempStore();
    const app = await buildApi({ store });
    try {
      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      expect((await fetch(`${address}/api/v1/rulesets`)).status).toBe(200);
    } finally {
      await app.close();
      await store.close();
    }
  });

  it.skipIf(outside === undefined)('refuses a client that reached it through another address (if it was made to listen there)', async () => {
    const store = tempStore();
    const app = await buildApi({ store });
    try {
      await app.listen({ host: '0.0.0.0', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      // The Host names the outside address: refused before the route (421); with a loopback Host
      // sent to the outside address, the connection's own address is refused (401).
      const refused = await fetch(`http://${outside}:${port}/api/v1/rulesets`);
      expect(refused.status).toBe(421);
      expect(((await refused.json()) as { message: string }).message).toContain('answers only requests for its loopback names');
      const spoofed = await rawRequest({ host: outside as string, port, path: '/api/v1/rulesets', headers: { host: `localhost:${port}` } });
      expect(spoofed.status).toBe(401);
      expect(spoofed.body).toContain('answers loopback clients only');
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/rulesets`)).status).toBe(200);
    } finally {
      await app.close();
      await store.close();
    }
  });
});
