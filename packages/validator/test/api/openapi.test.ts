import type { SqliteResultStore } from '@lagscale/validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, tempStore } from './helpers.js';

/** The routes of docs/http-api.md this package serves, in OpenAPI's path syntax. */
const CONTRACT_ROUTES = [
  'GET /api/v1/rulesets',
  'POST /api/v1/rulesets',
  'POST /api/v1/rulesets/check',
  'GET /api/v1/rulesets/{name}',
  'GET /api/v1/rulesets/{name}/versions/{version}',
  'POST /api/v1/rulesets/{name}/dry-run',
  'POST /api/v1/jobs',
  'GET /api/v1/jobs',
  'GET /api/v1/jobs/{id}',
  'GET /api/v1/jobs/{id}/summary',
  'GET /api/v1/jobs/{id}/results',
  'GET /api/v1/jobs/{id}/results/{recordNumber}',
  'GET /api/v1/dlq',
  'GET /api/v1/dlq/{id}',
  'POST /api/v1/dlq/{id}/replay',
];

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const SCHEMA_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array'];
const PARAMETER_LOCATIONS = ['query', 'header', 'path', 'cookie'];

type Json = Record<string, unknown>;

/**
 * The rules of OpenAPI 3.0 a generator can break, checked over the whole document: the required
 * fields of each object, a `type` that 3.0 knows (no `null`, no arrays of types: 3.0 says
 * `nullable`), path parameters declared for every `{name}` of the path and required, responses
 * keyed by status codes, and every `$ref` resolving. Returns the problems found.
 */
function openApi30Problems(document: Json): string[] {
  const problems: string[] = [];
  const problem = (where: string, what: string) => problems.push(`${where}: ${what}`);
  if (typeof document.openapi !== 'string' || !/^3\.0\.\d+$/.test(document.openapi)) problem('/openapi', `must be 3.0.x, is ${String(document.openapi)}`);
  const info = document.info as Json | undefined;
  if (typeof info?.title !== 'string' || typeof info?.version !== 'string') problem('/info', 'needs title and version strings');
  const paths = document.paths as Record<string, Json> | undefined;
  if (typeof paths !== 'object' || paths === null) problem('/paths', 'missing');
  const schemes = ((document.components as Json | undefined)?.securitySchemes ?? {}) as Json;

  const resolve = (ref: string, where: string): unknown => {
    if (!ref.startsWith('#/')) {
      problem(where, `$ref ${ref} is not local`);
      return undefined;
    }
    let node: unknown = document;
    for (const segment of ref.slice(2).split('/')) {
      node = (node as Json | undefined)?.[segment.replaceAll('~1', '/').replaceAll('~0', '~')];
      if (node === undefined) {
        problem(where, `$ref ${ref} does not resolve`);
        return undefined;
      }
    }
    return node;
  };
  const checkSchema = (schema: unknown, where: string): void => {
    if (typeof schema !== 'object' || schema === null) {
      problem(where, 'schema must be an object');
      return;
    }
    const s = schema as Json;
    if (typeof s.$ref === 'string') {
      resolve(s.$ref, where);
      return;
    }
    if (s.type !== undefined && (typeof s.type !== 'string' || !SCHEMA_TYPES.includes(s.type)))
      problem(where, `type ${JSON.stringify(s.type)} is not an OpenAPI 3.0 type`);
    if (s.type === 'array' && s.items === undefined) problem(where, 'an array schema needs items');
    for (const key of ['items', 'additionalProperties', 'not']) if (typeof s[key] === 'object' && s[key] !== null) checkSchema(s[key], `${where}/${key}`);
    for (const key of ['allOf', 'anyOf', 'oneOf'])
      if (Array.isArray(s[key])) for (const [i, sub] of (s[key] as unknown[]).entries()) checkSchema(sub, `${where}/${key}/${i}`);
    if (typeof s.properties === 'object' && s.properties !== null)
      for (const [name, sub] of Object.entries(s.properties as Json)) checkSchema(sub, `${where}/properties/${name}`);
    if (Array.isArray(s.required) && typeof s.properties === 'object')
      for (const name of s.required as string[]) if (!(name in (s.properties as Json))) problem(where, `required property ${name} is not among the properties`);
  };

  for (const [path, item] of Object.entries(paths ?? {})) {
    if (!path.startsWith('/')) problem(path, 'a path must start with /');
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] as string);
    for (const [method, operation] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!HTTP_METHODS.includes(method)) {
        if (method !== 'parameters' && method !== 'summary' && method !== 'description') problem(where, 'unknown key in a path item');
        continue;
      }
      const op = operation as Json;
      const parameters = (op.parameters ?? []) as Json[];
      const seen = new Set<string>();
      for (const parameter of parameters) {
        const p = parameter.$ref === undefined ? parameter : (resolve(parameter.$ref as string, where) as Json);
        if (typeof p.name !== 'string' || !PARAMETER_LOCATIONS.includes(p.in as string)) problem(where, `parameter ${JSON.stringify(p)} needs a name and in`);
        if (seen.has(`${p.in}:${p.name}`)) problem(where, `parameter ${String(p.name)} appears twice`);
        seen.add(`${p.in}:${p.name}`);
        if (p.in === 'path' && p.required !== true) problem(where, `path parameter ${String(p.name)} must be required`);
        if (p.in === 'path' && !templated.includes(p.name as string)) problem(where, `path parameter ${String(p.name)} is not in the path`);
        if (p.schema === undefined && p.content === undefined) problem(where, `parameter ${String(p.name)} needs a schema`);
        else if (p.schema !== undefined) checkSchema(p.schema, `${where} parameter ${String(p.name)}`);
      }
      for (const name of templated) if (!seen.has(`path:${name}`)) problem(where, `path parameter {${name}} is not declared`);
      const responses = op.responses as Json | undefined;
      if (typeof responses !== 'object' || responses === null || Object.keys(responses).length === 0) problem(where, 'needs responses');
      for (const [status, response] of Object.entries(responses ?? {})) {
        if (!/^([1-5][0-9][0-9]|[1-5]XX|default)$/.test(status)) problem(where, `response key ${status} is not a status code`);
        const r = response as Json;
        if (typeof r.description !== 'string') problem(`${where} ${status}`, 'a response needs a description');
        for (const [type, media] of Object.entries((r.content ?? {}) as Json)) checkSchema((media as Json).schema, `${where} ${status} ${type}`);
      }
      if (op.requestBody !== undefined) {
        const content = (op.requestBody as Json).content as Json | undefined;
        if (typeof content !== 'object' || Object.keys(content ?? {}).length === 0) problem(where, 'requestBody needs content');
        for (const [type, media] of Object.entries(content ?? {})) checkSchema((media as Json).schema, `${where} body ${type}`);
      }
      for (const requirement of (op.security ?? []) as Json[])
        for (const name of Object.keys(requirement)) if (!(name in schemes)) problem(where, `security scheme ${name} is not defined`);
    }
  }
  return problems;
}

let store: SqliteResultStore;
let app: FastifyInstance;
const registered: string[] = [];

beforeAll(async () => {
  store = tempStore();
  app = await buildApi({ store, routes: registered });
});

afterAll(async () => {
  await app.close();
  await store.close();
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.0 without problems', async () => {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('application/json');
    const document = response.json() as Json;
    expect(openApi30Problems(document)).toEqual([]);
    // the checker finds what it is meant to find
    const broken = structuredClone(document) as { openapi: string; paths: Record<string, Record<string, Json>> };
    broken.openapi = '2.0';
    const getJob = (broken.paths['/api/v1/jobs/{id}'] as Record<string, Json>).get as Json;
    delete getJob.parameters;
    (getJob.responses as Json)['200'] = {
      description: 'x',
      content: { 'application/json': { schema: { type: ['integer', 'null'] } } },
    };
    expect(openApi30Problems(broken as unknown as Json)).toEqual([
      '/openapi: must be 3.0.x, is 2.0',
      'GET /api/v1/jobs/{id}: path parameter {id} is not declared',
      'GET /api/v1/jobs/{id} 200 application/json: type ["integer","null"] is not an OpenAPI 3.0 type',
    ]);
  });

  it('lists every route of the contract, and every route the app serves', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Json> };
    const listed = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((method) => HTTP_METHODS.includes(method))
        .map((method) => `${method.toUpperCase()} ${path}`),
    );
    for (const route of CONTRACT_ROUTES) expect(listed).toContain(route);
    // every route fastify serves but the document itself (and the HEADs it adds to GETs)
    const served = registered
      .filter((route) => !route.startsWith('HEAD ') && route !== 'GET /openapi.json')
      .map((route) => route.replace(/:([A-Za-z]+)/g, '{$1}'));
    expect(served.length).toBe(CONTRACT_ROUTES.length + 1);
    expect(listed.sort()).toEqual(served.sort());
  });

  it('describes each route fully: parameters, bodies, responses with error bodies, and the token scheme', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Json>> };
    const upload = document.paths['/api/v1/jobs']?.post as Json;
    expect(Object.keys((upload.requestBody as { content: Json }).content).sort()).toEqual(
      ['application/json', 'application/octet-stream', 'application/x-ndjson', 'text/csv'].sort(),
    );
    expect((upload.parameters as Json[]).map((p) => `${p.in}:${p.name}:${p.required === true}`)).toEqual(
      expect.arrayContaining(['query:ruleSet:true', 'query:version:false', 'query:format:false', 'query:jobId:false', 'query:filename:false']),
    );
    expect(upload.security).toEqual([{ bearer: [] }]);
    expect(upload.description).toContain('Needs a token with scope write');

    const results = document.paths['/api/v1/jobs/{id}/results']?.get as Json;
    expect((results.parameters as Json[]).map((p) => p.name)).toEqual(
      expect.arrayContaining(['id', 'valid', 'ruleId', 'severity', 'field', 'text', 'limit', 'cursor', 'facets']),
    );
    expect(results.description).toContain('Needs a token with scope read');
    const ok = ((results.responses as Json)['200'] as { content: Record<string, { schema: Json }> }).content['application/json']?.schema as Json;
    expect(Object.keys(ok.properties as Json)).toEqual(['items', 'nextCursor', 'facets']);
    const notFound = ((results.responses as Json)['404'] as { content: Record<string, { schema: Json }> }).content['application/json']?.schema as Json;
    expect((notFound.required as string[]).sort()).toEqual(['error', 'message']);

    const getJob = (document.paths['/api/v1/jobs/{id}'] as Record<string, Json>).get as {
      responses: Record<string, { content: Record<string, { schema: Json }> }>;
    };
    const job = (getJob.responses['200'] as { content: Record<string, { schema: Json }> }).content['application/json']?.schema as {
      properties: Record<string, Json>;
    };
    expect(job.properties.progress).toMatchObject({ type: 'number', nullable: true });

    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const responses = Object.keys(operation.responses as Json);
        expect(
          responses.some((status) => status.startsWith('2')),
          `${method} ${path}`,
        ).toBe(true);
        if (path.startsWith('/api/')) {
          expect(responses, `${method} ${path}`).toEqual(expect.arrayContaining(['400', '401', '403']));
          expect(operation.summary, `${method} ${path}`).toEqual(expect.any(String));
          expect(operation.security, `${method} ${path}`).toEqual([{ bearer: [] }]);
        }
      }
    }
    expect(document.paths['/healthz']?.get?.security).toBeUndefined();
    // a replay may come without a body; a dry run may not
    expect(((document.paths['/api/v1/dlq/{id}/replay'] as Record<string, Json>).post as { requestBody: Json }).requestBody.required).toBe(false);
    expect(((document.paths['/api/v1/rulesets/{name}/dry-run'] as Record<string, Json>).post as { requestBody: Json }).requestBody.required).toBe(true);
  });
});
