import { Ajv } from 'ajv';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { decodeRecord } from '../rules/decode.js';
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
  scope.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: limits.maxBytes }, (_request, body, done) => {
    try {
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
  if (body.includes('"__proto__"')) {
    JSON.parse(body.toString('utf8'), (key, value: unknown) => {
      if (key === '__proto__') throw new ApiError(400, 'invalid_json', 'the body has a "__proto__" key, which is refused: rename it');
      return value;
    });
  }
  return decoded.value;
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
