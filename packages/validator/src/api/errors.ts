import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EnvelopeError } from '../jobs/envelope.js';
import { SubmitJobError, UploadIdleError, UploadTooLargeError } from '../jobs/submit.js';
import { UploadFormatError } from '../jobs/upload-error.js';
import { escapePointerSegment } from '../rules/json-pointer.js';
import { RuleSetError } from '../rules/rule-set-error.js';
import { StoreError, type StoreErrorCode } from '../store/store.js';

/**
 * The API's error bodies (docs/http-api.md, "Errors"): `{ error, message, details? }`, where
 * `error` is a stable snake_case code, `message` says what was wrong and what to do, and `details`
 * locate each mistake (a JSON pointer into the rule set, the query string or the body).
 */
export interface ApiErrorDetail {
  readonly pointer: string;
  readonly message: string;
  /** For a request that fails its schema: which part, `querystring`, `params`, `body` or `headers`. */
  readonly in?: string;
}

export interface ApiErrorBody {
  readonly error: string;
  readonly message: string;
  readonly details?: readonly ApiErrorDetail[];
}

/** An error a route throws to answer with a given status and body. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: readonly ApiErrorDetail[],
  ) {
    super(message);
  }

  body(): ApiErrorBody {
    return { error: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) };
  }
}

/** The JSON schema of an error body, for every route's 4xx/5xx responses (and the OpenAPI document). */
export const errorBodySchema = {
  type: 'object',
  description: 'What was wrong and what to do',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'stable snake_case code, e.g. rule_set_invalid' },
    message: { type: 'string' },
    details: {
      type: 'array',
      items: {
        type: 'object',
        required: ['pointer', 'message'],
        properties: {
          pointer: { type: 'string', description: 'JSON pointer of the mistake' },
          message: { type: 'string' },
          in: { type: 'string', description: 'querystring, params, body or headers (schema failures of the request)' },
        },
      },
    },
  },
} as const;

/** Error responses for a route's schema: each listed status answers an error body. */
export function errorResponses(...statuses: number[]): Record<string, typeof errorBodySchema> {
  return Object.fromEntries([400, 401, 403, 500, ...statuses].map((status) => [String(status), errorBodySchema]));
}

const STORE_ERRORS: Record<StoreErrorCode, [number, string]> = {
  RULE_SET_VERSION_CHANGED: [409, 'rule_set_version_exists'],
  RULE_SET_NOT_FOUND: [404, 'rule_set_not_found'],
  JOB_EXISTS: [409, 'job_exists'],
  JOB_NOT_FOUND: [404, 'job_not_found'],
  DLQ_ID_CONFLICT: [409, 'dlq_id_conflict'],
  DLQ_NOT_FOUND: [404, 'dlq_not_found'],
  INVALID_ARGUMENT: [400, 'invalid_request'],
  INVALID_CURSOR: [400, 'invalid_cursor'],
  SCHEMA_TOO_NEW: [503, 'store_unavailable'],
  STORE_CLOSED: [503, 'store_unavailable'],
  STORE_UNAVAILABLE: [503, 'store_unavailable'],
  STORE_AUTH_FAILED: [503, 'store_unavailable'],
};

interface AjvLikeError {
  readonly instancePath?: string;
  readonly keyword?: string;
  readonly message?: string;
  readonly params?: Record<string, unknown>;
}

/** `Payload Too Large` → `payload_too_large`. */
function snakeCase(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
}

/** The status and body for any error a route, a hook or fastify itself raised. */
export function toApiError(error: unknown, limits: { readonly maxJsonBodyBytes?: number } = {}): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof SubmitJobError) return submitError(error);
  if (error instanceof RuleSetError)
    return new ApiError(
      422,
      'rule_set_invalid',
      `${error.message.split('\n')[0]?.replace(/:$/, '')}: see details, one JSON pointer into the document per mistake`,
      error.issues.map((issue) => ({ pointer: issue.pointer, message: issue.message })),
    );
  if (error instanceof StoreError) {
    const [status, code] = STORE_ERRORS[error.code];
    return new ApiError(status, code, error.message);
  }
  if (error instanceof UploadFormatError) return new ApiError(400, 'upload_invalid', error.message);
  if (error instanceof UploadTooLargeError) return new ApiError(413, 'upload_too_large', error.message);
  if (error instanceof UploadIdleError) return new ApiError(408, 'upload_timeout', error.message);
  if (error instanceof EnvelopeError) return new ApiError(400, 'invalid_request', error.message);
  const fastifyError = error as Partial<FastifyError> & { validation?: AjvLikeError[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation)) {
    const part = fastifyError.validationContext ?? 'body';
    const details = fastifyError.validation.map((e) => validationDetail(e, part));
    const first = details[0];
    const where = first === undefined ? part : `${part}${first.pointer === '' ? '' : ` ${first.pointer}`}`;
    return new ApiError(
      400,
      'invalid_request',
      `the request's ${where} ${first?.message ?? 'is invalid'}${details.length > 1 ? ` (and ${details.length - 1} more, see details)` : ''}`,
      details,
    );
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(
        413,
        'body_too_large',
        limits.maxJsonBodyBytes === undefined
          ? 'the request body is over the size limit'
          : `the request body is over the limit of ${limits.maxJsonBodyBytes} bytes: send less (upload files through POST /api/v1/jobs, which streams)`,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, 'unsupported_media_type', `${fastifyError.message}: send application/json`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'invalid_json', 'the body is empty but the content type says JSON: send a JSON document');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, 'invalid_request', 'the Content-Length header does not match the body');
  }
  if (typeof fastifyError.code === 'string' && fastifyError.code.startsWith('PLT_KFK_'))
    return new ApiError(503, 'kafka_unavailable', `Kafka did not accept the records: ${fastifyError.message ?? 'unknown error'}; retry later`);
  const status = fastifyError.statusCode;
  // The console's file server refuses a path that leaves its folder (or names a dot file) with a bare 403.
  if (status === 403 && fastifyError.message === 'Forbidden')
    return new ApiError(403, 'forbidden_path', "the path is refused: it leaves the console's folder or names a hidden file");
  if (typeof status === 'number' && status >= 400 && status < 500)
    return new ApiError(status, STATUS_CODES[status] === undefined ? 'bad_request' : snakeCase(STATUS_CODES[status]), fastifyError.message ?? 'bad request');
  return new ApiError(500, 'internal_error', 'the server failed to answer; the error is in its log');
}

function submitError(error: SubmitJobError): ApiError {
  const cause = toApiError(error.cause);
  // The cause says what was wrong; the submission adds what became of the job.
  if (cause.statusCode === 500) return new ApiError(500, 'internal_error', 'the upload failed; the error is in the server log');
  return new ApiError(cause.statusCode, cause.code, error.message, cause.details);
}

function validationDetail(error: AjvLikeError, part: string): ApiErrorDetail {
  let pointer = error.instancePath ?? '';
  const params = error.params ?? {};
  let message = error.message ?? `fails ${error.keyword ?? 'the schema'}`;
  if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
    pointer = `${pointer}/${escapePointerSegment(params.missingProperty)}`;
    message = 'is required';
  } else if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    pointer = `${pointer}/${escapePointerSegment(params.additionalProperty)}`;
    message = part === 'querystring' ? 'is not a parameter of this route' : 'is not allowed here';
  } else if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
    message = `must be one of ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return { pointer, message, in: part };
}

/**
 * Every error becomes an error body: 4xx with what was wrong, 5xx logged with its stack and
 * answered without internals. With `notFound` (default true) unknown routes answer 404 `not_found`
 * too; an app has one not-found handler, so a plugin inside another's scope passes false.
 */
export function registerApiErrorHandler(app: FastifyInstance, options: { readonly maxJsonBodyBytes?: number; readonly notFound?: boolean } = {}): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(error, options);
    if (apiError.statusCode >= 500) request.log.error({ err: error, event: 'request_failed', url: request.url }, 'request failed');
    else request.log.debug({ event: 'request_refused', error: apiError.code, url: request.url }, apiError.message);
    if (apiError.statusCode === 401) reply.header('www-authenticate', 'Bearer');
    return reply.code(apiError.statusCode).type('application/json; charset=utf-8').send(apiError.body());
  });
  if (options.notFound === false) return;
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}; the routes are listed in /openapi.json` });
  });
}
