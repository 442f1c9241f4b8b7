import { type ApiToken, canonicalJson, parseApiTokens, type SqliteResultStore } from '@lagscale/validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, rawRequest, smallRuleSet, tempStore } from './helpers.js';

/**
 * The requests a hostile-input probe sent (and their near variants), each answered as it must be:
 * no path spelling reaches data without a token, no other site can change state, no Host but the
 * server's own is served without tokens, and no rule set can loop the validator or change between
 * the check and the store.
 */
const reader = 'r'.repeat(24);
const writer = 'w'.repeat(24);
const tokens: ApiToken[] = parseApiTokens(`reader:read:${reader},writer:write:${writer}`);
const SECRET_RULE_SET = 'secret-rules';
const SECRET_JOB = 'secret-job-1';

async function seed(store: SqliteResultStore): Promise<void> {
  await store.saveRuleSet(SECRET_RULE_SET, 1, smallRuleSet(SECRET_RULE_SET, 1) as never, 1000);
  await store.createJob({ id: SECRET_JOB, ruleSet: SECRET_RULE_SET, ruleSetVersion: 1, total: 1, createdAt: 2000, source: 'upload:x.ndjson' });
  await store.upsertResults([{ jobId: SECRET_JOB, recordNumber: 1, valid: true, violations: [] }]);
  await store.addDlq({
    id: 'secret-dlq-1',
    jobId: SECRET_JOB,
    recordNumber: 2,
    topic: 'upload:secret-job-1',
    partition: 0,
    offset: 2,
    reason: 'bad',
    code: 'invalid_json',
    payload: Buffer.from('{'),
    createdAt: 3000,
  });
}

/** Ways to spell an API path that a router, a proxy or a file server might read as the API. */
function spellings(path: string): string[] {
  const rest = path.slice('/api'.length);
  return [
    path,
    `/%61pi${rest}`,
    `/%61%70%69${rest}`,
    `/%2561pi${rest}`,
    `/ap%69${rest}`,
    `/api${rest.replace('/v1/', '/%76%31/')}`,
    `//api${rest}`,
    `/api/${rest}`,
    `/api${rest.replace('/v1/', '/v1//')}`,
    `/API${rest}`,
    `/Api${rest.toUpperCase()}`,
    `/./api${rest}`,
    `/x/../api${rest}`,
    `/%2e/api${rest}`,
    `/x/%2e%2e/api${rest}`,
    `/api${rest}/`,
    `/api${rest}?`,
    `/api${rest}#x`,
    `/api${rest};x`,
    `\\api${rest}`,
  ];
}

const READ_ROUTES = [
  '/api/v1/rulesets',
  `/api/v1/rulesets/${SECRET_RULE_SET}`,
  '/api/v1/jobs',
  `/api/v1/jobs/${SECRET_JOB}`,
  `/api/v1/jobs/${SECRET_JOB}/results`,
  `/api/v1/jobs/${SECRET_JOB}/results/1`,
  `/api/v1/jobs/${SECRET_JOB}/summary`,
  '/api/v1/dlq',
  '/api/v1/dlq/secret-dlq-1',
];

describe('API with tokens: the route decides, never the spelling of the path', () => {
  let store: SqliteResultStore;
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    store = tempStore();
    await seed(store);
    app = await buildApi({
      store,
      tokens,
      // Like the console's files: a catch-all that serves a page for any other GET.
      more: (api) => api.get('/*', async (_request, reply) => reply.type('text/html').send('<!doctype html><title>console</title>')),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('answers no spelling of a read route with data unless a token is sent', async () => {
    let tried = 0;
    for (const route of READ_ROUTES) {
      for (const path of spellings(route)) {
        const answer = await rawRequest({ port, path });
        tried++;
        const where = `GET ${path}`;
        expect(answer.status, where).not.toBe(200);
        expect(answer.body, where).not.toContain(SECRET_RULE_SET);
        expect(answer.body, where).not.toContain(SECRET_JOB);
        expect(answer.body, where).not.toContain('secret-dlq-1');
        expect([400, 401, 404], where).toContain(answer.status);
      }
    }
    expect(tried).toBe(READ_ROUTES.length * 20);
  });

  it('needs the token for the percent-encoded spelling of a route exactly as for the plain one (the probe: /%61pi/v1/jobs)', async () => {
    for (const path of ['/%61pi/v1/jobs', '/%61pi/v1/dlq', `/%61pi/v1/jobs/${SECRET_JOB}/results/1`, '/%61pi/v1/rulesets']) {
      const without = await rawRequest({ port, path });
      expect(without.status, path).toBe(401);
      expect(JSON.parse(without.body)).toMatchObject({ error: 'unauthorized' });
      const withToken = await rawRequest({ port, path, headers: { authorization: `Bearer ${reader}` } });
      expect(withToken.status, path).toBe(200);
    }
  });

  it('needs write for every spelling of a write route', async () => {
    for (const path of spellings('/api/v1/rulesets')) {
      const body = JSON.stringify(smallRuleSet('sneaked-in'));
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${reader}` };
      const answer = await rawRequest({ port, method: 'POST', path, headers, body });
      expect(answer.status, `POST ${path}`).not.toBe(201);
    }
    expect(await store.getRuleSet('sneaked-in')).toBeUndefined();
  });
});

describe('API without tokens (loopback): other sites and other Host names', () => {
  let store: SqliteResultStore;
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    store = tempStore();
    await seed(store);
    app = await buildApi({ store });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('serves its loopback names and refuses any other Host (DNS rebinding) with 421', async () => {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`, '127.0.0.1', 'localhost']) {
      const answer = await rawRequest({ port, path: '/api/v1/rulesets', headers: { host } });
      expect(answer.status, host).toBe(200);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`, `127.0.0.1.nip.example:${port}`, `user@localhost:${port}`]) {
      const answer = await rawRequest({ port, path: '/api/v1/rulesets', headers: { host } });
      expect(answer.status, `Host ${JSON.stringify(host)}`).toBe(421);
      expect(answer.body, host).not.toContain(SECRET_RULE_SET);
      expect(JSON.parse(answer.body), host).toMatchObject({ error: 'host_not_allowed' });
    }
    // The live feed and the health routes too: everything is refused under another name.
    expect((await rawRequest({ port, path: '/healthz', headers: { host: 'evil.example' } })).status).toBe(421);
  });

  it('serves the names it is told to allow', async () => {
    const allowing = await buildApi({ store, allowedHosts: ['lagscale.internal'] });
    try {
      await allowing.listen({ host: '127.0.0.1', port: 0 });
      const allowingPort = (allowing.server.address() as { port: number }).port;
      expect((await rawRequest({ port: allowingPort, path: '/api/v1/rulesets', headers: { host: `lagscale.internal:${allowingPort}` } })).status).toBe(200);
      expect((await rawRequest({ port: allowingPort, path: '/api/v1/rulesets', headers: { host: 'other.internal' } })).status).toBe(421);
    } finally {
      await allowing.close();
    }
  });

  it('refuses state-changing requests from pages of other origins, whatever their content type', async () => {
    const own = `http://127.0.0.1:${port}`;
    const json = { 'content-type': 'application/json' };
    const attempts: { path: string; headers: Record<string, string>; body?: string }[] = [
      { path: '/api/v1/rulesets', headers: { ...json, origin: 'http://evil.example' }, body: JSON.stringify(smallRuleSet('csrf')) },
      { path: '/api/v1/rulesets', headers: { ...json, origin: 'null' }, body: JSON.stringify(smallRuleSet('csrf')) },
      { path: '/api/v1/rulesets', headers: { ...json, origin: `http://localhost:${port + 1}` }, body: JSON.stringify(smallRuleSet('csrf')) },
      { path: '/api/v1/rulesets', headers: { ...json, 'sec-fetch-site': 'cross-site' }, body: JSON.stringify(smallRuleSet('csrf')) },
      { path: '/api/v1/rulesets', headers: { ...json, 'sec-fetch-site': 'same-site' }, body: JSON.stringify(smallRuleSet('csrf')) },
      {
        path: `/api/v1/jobs?ruleSet=${SECRET_RULE_SET}&jobId=csrf-job`,
        headers: { 'content-type': 'text/plain', origin: 'http://evil.example' },
        body: '{"id":1}\n',
      },
      { path: '/api/v1/dlq/secret-dlq-1/replay', headers: { ...json, origin: 'http://evil.example' }, body: '{}' },
      { path: '/%61pi/v1/rulesets', headers: { ...json, origin: 'http://evil.example' }, body: JSON.stringify(smallRuleSet('csrf')) },
    ];
    for (const attempt of attempts) {
      const answer = await rawRequest({ port, method: 'POST', ...attempt });
      const where = `POST ${attempt.path} ${JSON.stringify(attempt.headers)}`;
      expect(answer.status, where).toBe(403);
      expect(JSON.parse(answer.body), where).toMatchObject({ error: 'cross_origin' });
    }
    expect(await store.getRuleSet('csrf')).toBeUndefined();
    expect(await store.getJob('csrf-job')).toBeUndefined();
    expect((await store.getDlq('secret-dlq-1'))?.replayedAt).toBeNull();
    // Its own pages, and clients that are not browser pages, may write.
    const same = await rawRequest({
      port,
      method: 'POST',
      path: '/api/v1/rulesets',
      headers: { ...json, host: `127.0.0.1:${port}`, origin: own, 'sec-fetch-site': 'same-origin' },
      body: JSON.stringify(smallRuleSet('own-page')),
    });
    expect(same.status).toBe(201);
    const cli = await rawRequest({ port, method: 'POST', path: '/api/v1/rulesets', headers: json, body: JSON.stringify(smallRuleSet('from-cli')) });
    expect(cli.status).toBe(201);
    // Reads from another origin are not state changes (and the browser keeps their answers from the page).
    expect((await rawRequest({ port, path: '/api/v1/rulesets', headers: { origin: 'http://evil.example' } })).status).toBe(200);
  });
});

describe('rule sets that would loop the validator or change after the check', () => {
  let store: SqliteResultStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = tempStore();
    app = await buildApi({ store });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const withSchema = (name: string, schema: unknown) => ({ ...smallRuleSet(name), schema });

  it('refuses schemas that refer back to themselves without moving into the record, with the pointer of the reference', async () => {
    const cases: [unknown, string][] = [
      [{ $ref: '#' }, '/schema/$ref'],
      [{ allOf: [{ $ref: '#' }] }, '/schema/allOf/0/$ref'],
      [{ $defs: { a: { anyOf: [{ $ref: '#/$defs/b' }] }, b: { not: { $ref: '#/$defs/a' } } }, $ref: '#/$defs/a' }, '/schema/$defs/b/not/$ref'],
      [{ $defs: { a: { $anchor: 'loop', oneOf: [{ $ref: '#loop' }] } }, $ref: '#loop' }, '/schema/$defs/a/oneOf/0/$ref'],
      [{ $id: 'https://lagscale.example/s', if: { $ref: 'https://lagscale.example/s' } }, '/schema/if/$ref'],
      [{ $defs: { 'a/b': { $ref: '#/$defs/a~1b' } }, $ref: '#/$defs/a~1b' }, '/schema/$defs/a~1b/$ref'],
    ];
    for (const [schema, pointer] of cases) {
      const where = JSON.stringify(schema);
      const saved = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: withSchema('loops', schema) });
      expect(saved.statusCode, where).toBe(422);
      const checked = await app.inject({ method: 'POST', url: '/api/v1/rulesets/check', payload: { document: withSchema('loops', schema) } });
      expect(checked.statusCode, where).toBe(200);
      expect(checked.json().valid, where).toBe(false);
      for (const issues of [saved.json().details, checked.json().errors] as { pointer: string; message: string }[][]) {
        expect(
          issues.some((issue) => issue.pointer === pointer && issue.message.includes('without moving into the record')),
          `${where}: ${JSON.stringify(issues)}`,
        ).toBe(true);
      }
    }
    expect(await store.getRuleSet('loops')).toBeUndefined();
  });

  it('accepts recursion that moves into the record (a tree), and validates a deep record with it', async () => {
    const tree = { type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } } } };
    const saved = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: withSchema('tree', tree) });
    expect(saved.statusCode).toBe(201);
    let record: Record<string, unknown> = { id: 'leaf', email: 'a@b.c' };
    for (let i = 0; i < 20; i++) record = { id: `n${i}`, email: 'a@b.c', children: [record] };
    const dryRun = await app.inject({
      method: 'POST',
      url: '/api/v1/rulesets/tree/dry-run',
      payload: { records: [record, { id: 'x', email: 'a@b.c', children: 'no' }] },
    });
    expect(dryRun.statusCode).toBe(200);
    const results = dryRun.json().results as { valid: boolean; violations: { ruleId: string; path: string }[] }[];
    expect(results[0]?.valid).toBe(true);
    expect(results[1]?.violations).toContainEqual(expect.objectContaining({ ruleId: 'schema:type', path: '/children' }));
  });

  it('answers a dry run against a stored rule set that no longer compiles with 409, not 500', async () => {
    await store.saveRuleSet('poisoned', 1, { ...smallRuleSet('poisoned', 1), schema: { $ref: '#' } } as never, 1000);
    const answer = await app.inject({ method: 'POST', url: '/api/v1/rulesets/poisoned/dry-run', payload: { records: [{ id: 1 }] } });
    expect(answer.statusCode).toBe(409);
    expect(answer.json()).toMatchObject({ error: 'rule_set_invalid' });
    expect(answer.json().message).toContain('/schema/$ref');
  });

  it('refuses a "__proto__" key however it is spelled, and stores exactly the document it checked', async () => {
    const spelled = [
      '"__proto__"',
      '"\\u005f_proto__"',
      '"_\\u005fproto__"',
      '"__pr\\u006fto__"',
      '"\\u005F\\u005F\\u0070\\u0072\\u006F\\u0074\\u006F\\u005F\\u005F"',
    ];
    for (const key of spelled) {
      const body = `{"name":"protos","rules":[{"id":"c","severity":"error","type":"reference","field":"/c","list":"countries"}],"references":{"countries":["DE"],${key}:["x"]}}`;
      const answer = await app.inject({ method: 'POST', url: '/api/v1/rulesets', headers: { 'content-type': 'application/json' }, payload: body });
      expect(answer.statusCode, key).toBe(400);
      expect(answer.json(), key).toMatchObject({ error: 'invalid_json' });
      expect(answer.json().message, key).toContain('at /references/__proto__');
    }
    expect(await store.getRuleSet('protos')).toBeUndefined();
    // A document that reaches the store another way keeps its own "__proto__" key: nothing vanishes.
    const document = JSON.parse('{"references":{"__proto__":["x"],"countries":["DE"]}}') as Record<string, unknown>;
    expect(JSON.parse(canonicalJson(document))).toEqual(document);
    expect(canonicalJson(document)).toBe('{"references":{"__proto__":["x"],"countries":["DE"]}}');
  });
});

describe('the smaller findings', () => {
  let store: SqliteResultStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = tempStore();
    app = await buildApi({ store });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('refuses rule set names that could never be fetched again (a "/", a lone surrogate, a control character)', async () => {
    for (const name of ['a/b', 'x\uD800y', '\uDC00', 'tab\there', '../up', '.hidden', ' lead']) {
      const answer = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: smallRuleSet(name) });
      expect(answer.statusCode, JSON.stringify(name)).toBe(422);
      expect(answer.json().details, JSON.stringify(name)).toContainEqual({
        pointer: '/name',
        message: expect.stringContaining("letters, digits, '.', '_' or '-'"),
      });
    }
    // Letters of any script are names.
    const unicode = await app.inject({ method: 'POST', url: '/api/v1/rulesets', payload: smallRuleSet('Bestellungen-Prüfung_2') });
    expect(unicode.statusCode).toBe(201);
    const fetched = await app.inject({ method: 'GET', url: `/api/v1/rulesets/${encodeURIComponent('Bestellungen-Prüfung_2')}` });
    expect(fetched.statusCode).toBe(200);
  });

  it('checks a version as save does: beyond 2^53 - 1 it is refused by both (1e23, a number that lost precision)', async () => {
    const checked = await app.inject({ method: 'POST', url: '/api/v1/rulesets/check', payload: { document: { ...smallRuleSet('big'), version: 1e23 } } });
    expect(checked.json()).toMatchObject({ valid: false, errors: [{ pointer: '/version' }] });
    const saved = await app.inject({
      method: 'POST',
      url: '/api/v1/rulesets',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(smallRuleSet('big')).replace(/}$/, ',"version":9007199254740993}'),
    });
    expect(saved.statusCode).toBe(422);
    expect(saved.json().details).toContainEqual(expect.objectContaining({ pointer: '/version' }));
    expect(await store.getRuleSet('big')).toBeUndefined();
  });

  it('refuses a body in a charset other than UTF-8 (415) instead of misreading it', async () => {
    for (const [url, type] of [
      ['/api/v1/rulesets', 'application/json; charset=iso-8859-1'],
      ['/api/v1/rulesets', 'application/json;charset="UTF-16"'],
      ['/api/v1/jobs?ruleSet=x', 'text/csv; charset=windows-1252'],
    ] as const) {
      const answer = await app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload: JSON.stringify(smallRuleSet('latin')) });
      expect(answer.statusCode, type).toBe(415);
      expect(answer.json(), type).toMatchObject({ error: 'unsupported_media_type', message: expect.stringContaining('UTF-8') });
    }
    const utf8 = await app.inject({
      method: 'POST',
      url: '/api/v1/rulesets',
      headers: { 'content-type': 'application/json; charset=UTF-8' },
      payload: smallRuleSet('utf8'),
    });
    expect(utf8.statusCode).toBe(201);
  });
});
