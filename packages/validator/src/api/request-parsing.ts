import { Ajv } from 'ajv';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { decodeRecord } from '../rules/decode.js';
import { escapePointerSegment } from '../rules/json-pointer.js';
import { ApiError } from './errors.js';

/**
 * How the API reads requests: JSON bodies with size and depth limits, and schema validation that
 * reports every mistake (not only the first) and never drops or coerces body fields silently.
 */

/**
 * Makes JSON the scope's only body type (others answer 415) with its own parser: over `maxBytes` is 413 (fastify's body limit), deeper than
 * `maxDepth` is 400 `json_too_deep` (checked in one pass before parsing, so a hostile body
 * cannot exhaust the stack), malformed JSON is 400 `invalid_json` with the byte where it breaks,
 * and a `__proto__` key is refused.
 */
export function registerJsonBodyParser(scope: FastifyInstance, limits: { readonly maxBytes: number; readonly maxDepth: number }): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: limits.maxBytes }, (request, body, done) => {
    try {
      assertUtf8Charset(request.headers['content-type']);
      done(null, parseJsonBody(body as Buffer, limits));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}

export function parseJsonBody(body: Buffer, limits: { readonly maxBytes: number; readonly maxDepth: number }): unknown {
  const decoded = decodeRecord(body, { maxBytes: limits.maxBytes, maxDepth: limits.maxDepth });
  if (!decoded.ok) {
    switch (decoded.code) {
      case 'too_deep':
        throw new ApiError(400, 'json_too_deep', `the JSON body has ${decoded.reason}: flatten it to at most ${limits.maxDepth} levels`);
      case 'too_large':
        throw new ApiError(413, 'body_too_large', `the request body is over the limit of ${limits.maxBytes} bytes`);
      case 'empty':
        throw new ApiError(400, 'invalid_json', 'the body is empty but the content type says JSON: send a JSON document');
      default:
        throw new ApiError(400, 'invalid_json', `the body is not valid JSON: ${decoded.reason}`);
    }
  }
  // Checked on the parsed keys: `"\u005f_proto__"` is the same key spelled with an escape.
  const protoKey = body.includes('__proto__') || body.includes('\\u') ? findProtoKey(decoded.value) : null;
  if (protoKey !== null) throw new ApiError(400, 'invalid_json', `the body has a "__proto__" key (at ${protoKey}), which is refused: rename it`);
  return decoded.value;
}

/** A body is read as UTF-8: a Content-Type naming another charset is refused (415) rather than misread. */
export function assertUtf8Charset(contentType: string | undefined): void {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && !['utf-8', 'utf8', 'us-ascii'].includes(charset))
    throw new ApiError(415, 'unsupported_media_type', `the body is read as UTF-8, but the Content-Type says charset=${charset}: send it as UTF-8`);
}

/** The JSON pointer of the first `__proto__` key in a parsed value, or null; iterative (depth is bounded, but cheaply so). */
function findProtoKey(value: unknown): string | null {
  const pending: { value: unknown; at: string }[] = [{ value, at: '' }];
  while (pending.length > 0) {
    const next = pending.pop() as { value: unknown; at: string };
    if (next.value === null || typeof next.value !== 'object') continue;
    if (Array.isArray(next.value)) {
      for (const [i, item] of next.value.entries()) pending.push({ value: item, at: `${next.at}/${i}` });
      continue;
    }
    if (Object.hasOwn(next.value, '__proto__')) return `${next.at}/__proto__`;
    for (const [key, item] of Object.entries(next.value)) pending.push({ value: item, at: `${next.at}/${escapePointerSegment(key)}` });
  }
  return null;
}

/**
 * Validators for route schemas: every mistake reported (`allErrors`), defaults filled in; query
 * strings and path parameters are text, so they are coerced to the schema's types; bodies are not.
 */
export function schemaCompiler(): FastifySchemaCompiler<unknown> {
  const options = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false, allowUnionTypes: true } as const;
  const text = new Ajv({ ...options, coerceTypes: 'array' });
  const json = new Ajv({ ...options, coerceTypes: false });
  return ({ schema, httpPart }) => (httpPart === 'body' ? json : text).compile(schema as object);
}
