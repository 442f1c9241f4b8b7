import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, serverOptions } from '@lagscale/exporter';
import { registerApiErrorHandler } from '@lagscale/validator';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendRaw } from '../../exporter/test/http-client.js';
import { registerConsoleAssets } from '../src/stack/console-assets.js';

/** Sends bytes as they are on a connection of its own; resolves with the status and the parsed body. */
async function send(port: number, raw: string): Promise<{ status: number; body: unknown }> {
  const answer = await sendRaw(port, raw);
  return { status: answer.status, body: JSON.parse(answer.body) };
}

describe("the stack server's refusals keep the documented error shape", () => {
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-console-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title>');
    app = Fastify(serverOptions(createLogger('error-shape', 'silent') as FastifyBaseLogger));
    registerApiErrorHandler(app, { notFound: false });
    await registerConsoleAssets(app, dir);
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });

  afterAll(() => app.close());

  const request = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n`;

  it('answers a URL that is not UTF-8, a path that leaves the folder and a malformed request with { error, message }', async () => {
    const cases: [string, number, string][] = [
      [request('/%E0%A4%A'), 400, 'bad_url'],
      [request('/api/v1/%ff'), 400, 'bad_url'],
      [request('/../etc/passwd'), 403, 'forbidden_path'],
      [request('/%2e%2e/%2e%2e/etc/passwd'), 403, 'forbidden_path'],
      [request('/a/..%2f..%2fetc'), 403, 'forbidden_path'],
      ['GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n', 400, 'malformed_request'],
      [request('/', `X-Big: ${'a'.repeat(20_000)}\r\n`), 431, 'headers_too_large'],
    ];
    for (const [raw, status, error] of cases) {
      const answer = await send(port, raw);
      const where = raw.slice(0, 40);
      expect(answer.status, where).toBe(status);
      expect(Object.keys(answer.body as object).sort(), where).toEqual(['error', 'message']);
      expect(answer.body, where).toMatchObject({ error });
    }
  });
});
