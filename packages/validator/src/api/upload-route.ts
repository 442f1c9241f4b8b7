import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { UploadFormat } from '../jobs/parsers.js';
import { SubmitJobError, submitJob, withIdleTimeout } from '../jobs/submit.js';
import { ApiError, errorResponses } from './errors.js';
import { assertUtf8Charset, schemaCompiler } from './request-parsing.js';
import { jobId, job as jobSchema, ruleSetName } from './schemas.js';
import type { ApiContext } from './validator-api.js';

/** The content types the upload documents; others are read too (the format is then detected), except forms. */
export const UPLOAD_CONTENT_TYPES = ['application/x-ndjson', 'text/csv', 'application/json', 'application/octet-stream'] as const;

const FORMATS: Record<string, UploadFormat> = { ndjson: 'ndjson', csv: 'csv', json: 'json-array' };

interface UploadQuery {
  ruleSet: string;
  version?: number;
  format?: 'ndjson' | 'csv' | 'json';
  jobId?: string;
  filename?: string;
  delimiter?: string;
  inferTypes?: boolean;
}

/**
 * `POST /api/v1/jobs`: the body is the file, read as a stream and produced record by record
 * (never held whole). Registered in a scope of its own: there every content type hands the raw
 * stream through, where the rest of the API parses JSON.
 */
export function registerUploadRoute(scope: FastifyInstance, context: ApiContext): void {
  const { limits } = context;
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (request, payload, done) => {
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() ?? '';
    if (type.startsWith('multipart/') || type === 'application/x-www-form-urlencoded')
      return done(
        new ApiError(
          415,
          'unsupported_media_type',
          `${type} is a form: send the file's bytes as the body, with Content-Type ${UPLOAD_CONTENT_TYPES.join(', ')}`,
        ),
        undefined,
      );
    try {
      assertUtf8Charset(request.headers['content-type']);
    } catch (error) {
      return done(error as ApiError, undefined);
    }
    const length = Number(request.headers['content-length']);
    if (length > limits.maxUploadBytes)
      return done(new ApiError(413, 'upload_too_large', `the upload is ${length} bytes, over the limit of ${limits.maxUploadBytes}: split it`), undefined);
    done(null, payload);
  });
  // The body is a stream: only the query string is validated here.
  const compile = schemaCompiler();
  scope.setValidatorCompiler((route) => (route.httpPart === 'body' ? () => true : compile(route)));

  scope.post<{ Querystring: UploadQuery }>(
    '/api/v1/jobs',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['jobs'],
        summary: 'Create a job by uploading a file (NDJSON, CSV with a header, or a JSON array)',
        description:
          'The body is the file, streamed: records are produced to validation.requests as they are read. Without `format` it comes from ' +
          'the content type, the file name, then the first bytes. Answers once every record is produced, with the total known. A record ' +
          'that cannot be read goes to the DLQ with the reason and counts as done. When the upload stops early (a format error, the size ' +
          'limit) the job keeps the records read before and the error says so.',
        consumes: [...UPLOAD_CONTENT_TYPES],
        querystring: {
          type: 'object',
          required: ['ruleSet'],
          additionalProperties: false,
          properties: {
            ruleSet: ruleSetName,
            version: { type: 'integer', minimum: 1, description: 'rule set version; default the latest' },
            format: { type: 'string', enum: ['ndjson', 'csv', 'json'], description: 'json: a JSON array of records' },
            jobId: { ...jobId, description: 'default: a new UUID; the same id and rule set again resubmits the records (workers upsert)' },
            filename: { type: 'string', minLength: 1, maxLength: 255, description: 'the file name, for the job source and format detection' },
            delimiter: {
              type: 'string',
              // What parseCsv takes: one ASCII character other than a quote or a line break (anything else was a 500).
              pattern: '^[\\u0000-\\u0009\\u000B\\u000C\\u000E-\\u0021\\u0023-\\u007E]$',
              description: 'CSV field separator, default ",": one ASCII character other than a double quote, CR or LF',
            },
            inferTypes: { type: 'boolean', description: 'CSV: unquoted numbers, true/false and empty/null become JSON values, default false' },
          },
        },
        body: { type: 'string', format: 'binary', description: 'the file' },
        response: { 200: jobSchema, 201: jobSchema, ...errorResponses(404, 408, 409, 413, 415, 503) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const id = q.jobId ?? randomUUID();
      const producer = await context.producer();
      const started = performance.now();
      try {
        const body = request.body as Readable | undefined;
        // A stalled upload is answered 408 and its connection closed after the answer (destroying
        // the body now would close it before).
        const upload = body === undefined ? [] : withIdleTimeout(body, limits.uploadIdleMs, () => body.pause());
        const submitted = await submitJob(upload, {
          store: context.store,
          producer,
          jobId: id,
          ruleSet: q.ruleSet,
          ...(q.version === undefined ? {} : { ruleSetVersion: q.version }),
          source: `upload:${q.filename ?? 'body'}`,
          ...(q.format === undefined ? {} : { format: FORMATS[q.format] as UploadFormat }),
          ...(q.filename === undefined ? {} : { filename: q.filename }),
          ...(request.headers['content-type'] === undefined ? {} : { contentType: request.headers['content-type'] }),
          csv: { ...(q.delimiter === undefined ? {} : { delimiter: q.delimiter }), ...(q.inferTypes === undefined ? {} : { inferTypes: q.inferTypes }) },
          limits: {
            maxRecordBytes: limits.maxRecordBytes,
            maxDepth: limits.maxDepth,
            ...(limits.maxUploadRecords === undefined ? {} : { maxRecords: limits.maxUploadRecords }),
          },
          maxUploadBytes: limits.maxUploadBytes,
          ...(context.options.upload?.batchRecords === undefined ? {} : { batchRecords: context.options.upload.batchRecords }),
          ...(context.options.upload?.lingerMs === undefined ? {} : { lingerMs: context.options.upload.lingerMs }),
          ...(context.options.requestsTopic === undefined ? {} : { requestsTopic: context.options.requestsTopic }),
          ...(context.options.deadLetterTopic === undefined ? {} : { deadLetterTopic: context.options.deadLetterTopic }),
          now: context.now,
        });
        request.log.info(
          {
            event: 'job_submitted',
            jobId: id,
            ruleSet: submitted.job.ruleSet,
            ruleSetVersion: submitted.job.ruleSetVersion,
            format: submitted.format,
            records: submitted.records,
            failed: submitted.failed,
            bytes: submitted.bytes,
            ms: Math.round(performance.now() - started),
            token: request.apiToken?.name,
          },
          'job submitted',
        );
        context.options.metrics?.upload('completed', submitted.produced, submitted.failed);
        // 200: the same complete upload again under its job id; nothing new was produced.
        reply.code(submitted.resubmitted === true ? 200 : 201);
        return submitted.job;
      } catch (error) {
        // The rest of the body is not wanted: close the connection after the answer instead of reading it.
        reply.header('connection', 'close');
        // Records produced before the upload stopped are still validated (a resubmission completes the job).
        context.options.metrics?.upload('failed', error instanceof SubmitJobError ? (error.recordsKept ?? 0) : 0, 0);
        if (!(error instanceof SubmitJobError)) throw error;
        // The client went away mid-upload: nobody reads the answer, and it is not the server's failure.
        if ((error.cause as { code?: unknown } | undefined)?.code === 'ECONNRESET') {
          request.log.info({ event: 'upload_aborted', jobId: id, recordsKept: error.recordsKept }, error.message);
          throw new ApiError(400, 'upload_aborted', `the client closed the connection before the end of the upload: ${error.message}`);
        }
        request.log.warn({ event: 'upload_failed', jobId: id, recordsKept: error.recordsKept, err: error.message }, 'upload stopped early');
        throw error;
      }
    },
  );
}
