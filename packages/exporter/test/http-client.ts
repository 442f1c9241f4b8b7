import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { expect } from 'vitest';

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * One real HTTP request to 127.0.0.1 with the headers given as they are (a Host of our choosing,
 * which fetch does not allow); `https` for a TLS server with a self-signed certificate.
 */
export function get(port: number, path: string, headers: Record<string, string> = {}, options: { https?: boolean; method?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const send = options.https === true ? httpsRequest : httpRequest;
    const req = send({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The status, headers and body of what the server answers to these bytes, sent as they are (requests no client library would send). */
export function sendRaw(port: number, raw: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...rest] = received.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()] as [string, string]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

/** What every lagscale response carries (BROWSER_HEADERS), checked one by one so a failure names the header. */
export function expectBrowserHeaders(headers: IncomingHttpHeaders | Record<string, string>, where: string): void {
  expect(headers['x-frame-options'], `${where}: x-frame-options`).toBe('DENY');
  expect(headers['content-security-policy'], `${where}: content-security-policy`).toMatch(/(^|;\s*)frame-ancestors 'none'(;|$)/);
  expect(headers['x-content-type-options'], `${where}: x-content-type-options`).toBe('nosniff');
  expect(headers['referrer-policy'], `${where}: referrer-policy`).toBe('no-referrer');
  expect(headers['cross-origin-opener-policy'], `${where}: cross-origin-opener-policy`).toBe('same-origin');
}
