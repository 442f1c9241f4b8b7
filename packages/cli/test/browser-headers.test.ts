import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApiToken, BROWSER_HEADERS, createLogger, serverOptions } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import { SqliteResultStore } from '@lagscale/validator';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, expectBrowserHeaders, get } from '../../exporter/test/http-client.js';
import { CONSOLE_CONTENT_SECURITY_POLICY, CONSOLE_DIST, registerConsoleAssets } from '../src/stack/console-assets.js';
import { createStackServer } from '../src/stack/server.js';

const logger = createLogger('browser-headers-test', 'silent');

/** The stack's one server as `lagscale up` composes it, without Kafka: a monitor never started, a SQLite store. */
async function stackServer(
  options: { tokens?: readonly ApiToken[]; consoleDir?: string } = {},
): Promise<{ app: FastifyInstance; port: number; monitor: LagMonitor }> {
  const monitor = new LagMonitor({ connection: { brokers: ['127.0.0.1:9'] }, intervalSeconds: 5 });
  const store = SqliteResultStore.open(join(mkdtempSync(join(tmpdir(), 'lagscale-headers-')), 'results.db'));
  const { app, consoleBuilt } = await createStackServer({
    monitor,
    autoscaler: null,
    store,
    connection: { brokers: ['127.0.0.1:9'] },
    logger,
    host: '127.0.0.1',
    tokens: options.tokens ?? [],
    ...(options.consoleDir === undefined ? {} : { consoleDir: options.consoleDir }),
  });
  expect(consoleBuilt, 'the console is built (npm run build)').toBe(true);
  app.addHook('onClose', async () => {
    await monitor.stop();
    await store.close();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, port: (app.server.address() as { port: number }).port, monitor };
}

/** The first bytes of the live feed: its headers are written before any event. */
async function liveFeedHeaders(port: number): Promise<Headers> {
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/events`, { signal: controller.signal, headers: { accept: 'text/event-stream' } });
  controller.abort();
  expect(response.status).toBe(200);
  return response.headers;
}

describe('the stack server (console, API, metrics, live feed) sends browser headers on every answer', () => {
  let app: FastifyInstance;
  let port: number;
  beforeAll(async () => {
    ({ app, port } = await stackServer());
  });
  afterAll(() => app.close());

  it('gives the console its policy and everything else the strict one', async () => {
    const html = await get(port, '/');
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body).toContain('<div id="root">');
    // A page of the console reloaded in the browser: index.html through the fallback.
    const deepLink = await get(port, '/groups/orders.v1');
    expect(deepLink.status).toBe(200);
    expect(deepLink.body).toBe(html.body);
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html.body)?.[1];
    expect(script, 'index.html loads a script').toBeDefined();
    const js = await get(port, `/${script}`);
    expect(js.status).toBe(200);
    for (const [where, answer] of [
      ['console index.html', html],
      ['console deep link', deepLink],
      ['console script', js],
    ] as const) {
      expectBrowserHeaders(answer.headers, where);
      expect(answer.headers['content-security-policy'], where).toBe(CONSOLE_CONTENT_SECURITY_POLICY);
    }
    expect(CONSOLE_CONTENT_SECURITY_POLICY).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );

    const cases: [string, Answer, number][] = [
      ['API JSON', await get(port, '/api/v1/rulesets'), 200],
      ['lag JSON', await get(port, '/api/v1/groups'), 503],
      ['OpenAPI document', await get(port, '/openapi.json'), 200],
      ['metrics', await get(port, '/metrics'), 200],
      ['healthz', await get(port, '/healthz'), 503],
      ['API 404', await get(port, '/api/v1/nothing-here'), 404],
      ['schema validation 400', await get(port, '/api/v1/history'), 400],
      ['wrong Host 421', await get(port, '/', { host: 'attacker.example' }), 421],
      ['cross-origin POST 403', await get(port, '/api/v1/autoscaler/pause', { origin: 'http://127.0.0.2:9999' }, { method: 'POST' }), 403],
    ];
    for (const [where, answer, status] of cases) {
      expect(answer.status, where).toBe(status);
      expectBrowserHeaders(answer.headers, where);
      expect(answer.headers['content-security-policy'], where).toMatch(/^default-src 'none'/);
    }
    const feed = await liveFeedHeaders(port);
    expectBrowserHeaders(Object.fromEntries(Object.keys(BROWSER_HEADERS).map((name) => [name, feed.get(name) ?? ''])), 'live feed');
    expect(feed.get('content-type')).toMatch(/^text\/event-stream/);
  });

  it('serves no source map and no script names one', async () => {
    const assets = readdirSync(join(CONSOLE_DIST, 'assets'));
    expect(
      assets.filter((file) => file.endsWith('.map')),
      'the default build writes no source maps',
    ).toEqual([]);
    for (const file of assets.filter((name) => name.endsWith('.js') || name.endsWith('.css'))) {
      const served = await get(port, `/assets/${file}`);
      expect(served.status, file).toBe(200);
      expect(served.body, file).not.toMatch(/sourceMappingURL/);
      expect(served.headers.sourcemap ?? served.headers['x-sourcemap'], file).toBeUndefined();
      const map = await get(port, `/assets/${file}.map`);
      expect(map.status, `${file}.map`).toBe(404);
      expect(map.headers['content-type'], `${file}.map`).toMatch(/^application\/json/);
    }
  });
});

describe('a console build with source maps', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lagscale-console-maps-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title><script type="module" src="./assets/app.js"></script>');
  writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1);\n//# sourceMappingURL=app.js.map\n');
  writeFileSync(join(dir, 'assets', 'app.js.map'), '{"version":3,"sources":["../src/main.tsx"],"sourcesContent":["secret source"],"mappings":""}');

  async function consoleServer(sourceMaps: boolean | undefined): Promise<{ app: FastifyInstance; port: number }> {
    const app = Fastify(serverOptions(logger));
    await registerConsoleAssets(app, dir, sourceMaps === undefined ? {} : { sourceMaps });
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, port: (app.server.address() as { port: number }).port };
  }

  it('does not serve its maps unless LAGSCALE_CONSOLE_SOURCEMAPS=1 is set where it runs', async () => {
    const saved = process.env.LAGSCALE_CONSOLE_SOURCEMAPS;
    delete process.env.LAGSCALE_CONSOLE_SOURCEMAPS;
    const quiet = await consoleServer(undefined);
    process.env.LAGSCALE_CONSOLE_SOURCEMAPS = '1';
    const asked = await consoleServer(undefined);
    if (saved === undefined) delete process.env.LAGSCALE_CONSOLE_SOURCEMAPS;
    else process.env.LAGSCALE_CONSOLE_SOURCEMAPS = saved;
    try {
      for (const path of ['/assets/app.js.map', '/assets/APP.JS.MAP', '/assets/nothing.js.map', '/%61ssets/app.js.map']) {
        const answer = await get(quiet.port, path);
        expect(answer.status, path).toBe(404);
        expect(answer.body, path).not.toContain('secret source');
        expectBrowserHeaders(answer.headers, path);
      }
      const served = await get(asked.port, '/assets/app.js.map');
      expect(served.status).toBe(200);
      expect(JSON.parse(served.body)).toMatchObject({ version: 3 });
      expect((await get(asked.port, '/assets/nothing.js.map')).status).toBe(404);
    } finally {
      await quiet.app.close();
      await asked.app.close();
    }
  });
});

describe('the stack server with tokens', () => {
  let app: FastifyInstance;
  let port: number;
  beforeAll(async () => {
    ({ app, port } = await stackServer({ tokens: [{ name: 'reader', scope: 'read', secret: 'reader-0123456789abcdef' }] }));
  });
  afterAll(() => app.close());

  it('sends the headers on its 401s too, and the console stays public', async () => {
    const refused = await get(port, '/api/v1/rulesets');
    expect(refused.status).toBe(401);
    expectBrowserHeaders(refused.headers, '401');
    const page = await get(port, '/', { host: 'lagscale.example:8080' });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(CONSOLE_CONTENT_SECURITY_POLICY);
    expect(readFileSync(join(CONSOLE_DIST, 'index.html'), 'utf8')).toBe(page.body);
  });
});
