import type { FastifyInstance } from 'fastify';
import type { Severity } from '../rules/rule-set.js';
import { MAX_SEARCH_TEXT_CHARS } from '../store/input-checks.js';
import type { Job } from '../store/store.js';
import { ApiError, errorResponses } from './errors.js';
import { cursorParameter, jobId, job as jobSchema, jobSummary, limitParameter, page, resultFacets, storedResult } from './schemas.js';
import type { ApiContext } from './validator-api.js';

const TAG = 'jobs';
const idParams = { type: 'object', required: ['id'], properties: { id: jobId }, additionalProperties: false } as const;

interface ResultsQuery {
  valid?: boolean;
  ruleId?: string;
  severity?: Severity;
  field?: string;
  text?: string;
  limit: number;
  cursor?: string;
  facets?: boolean;
}

/** `/api/v1/jobs...` except the upload: list, status and progress, summary, results and one result. */
export function registerJobRoutes(app: FastifyInstance, context: ApiContext): void {
  const { store } = context;

  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/api/v1/jobs',
    {
      schema: {
        tags: [TAG],
        summary: 'List jobs, newest first',
        querystring: { type: 'object', properties: { limit: limitParameter, cursor: cursorParameter }, additionalProperties: false },
        response: { 200: page(jobSchema), ...errorResponses() },
      },
    },
    async (request) => store.listJobs({ limit: request.query.limit, ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }) }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/jobs/:id',
    {
      schema: {
        tags: [TAG],
        summary: 'A job: its counts and progress',
        params: idParams,
        response: { 200: jobSchema, ...errorResponses(404) },
      },
    },
    async (request) => jobOr404(await store.getJob(request.params.id), request.params.id),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/jobs/:id/summary',
    {
      schema: {
        tags: [TAG],
        summary: "A job's violations by rule, field and severity",
        params: idParams,
        response: { 200: jobSummary, ...errorResponses(404) },
      },
    },
    async (request) => {
      const summary = await store.jobSummary(request.params.id);
      if (summary === undefined) throw jobNotFound(request.params.id);
      return summary;
    },
  );

  app.get<{ Params: { id: string }; Querystring: ResultsQuery }>(
    '/api/v1/jobs/:id/results',
    {
      schema: {
        tags: [TAG],
        summary: "Search a job's results",
        description:
          'Results in record order. A record matches when it has the wanted validity and ONE of its violations matches ruleId, ' +
          'severity, field and text together. facets (counts over every match) default to true on the first page and false on the next ones.',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            valid: { type: 'boolean' },
            ruleId: { type: 'string', minLength: 1, maxLength: 200 },
            severity: { type: 'string', enum: ['error', 'warning'] },
            field: { type: 'string', pattern: '^/', maxLength: 1024, description: 'JSON pointer: the field or anything under it' },
            text: {
              type: 'string',
              minLength: 1,
              maxLength: MAX_SEARCH_TEXT_CHARS,
              description: 'part of the message, any case, taken literally (no operators or wildcards); NUL (%00) is refused',
            },
            limit: limitParameter,
            cursor: cursorParameter,
            facets: { type: 'boolean' },
          },
        },
        response: {
          200: { type: 'object', required: ['items', 'nextCursor'], properties: { ...page(storedResult).properties, facets: resultFacets } },
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const q = request.query;
      return store.searchResults({
        jobId: request.params.id,
        limit: q.limit,
        facets: q.facets ?? q.cursor === undefined,
        ...(q.valid === undefined ? {} : { valid: q.valid }),
        ...(q.ruleId === undefined ? {} : { ruleId: q.ruleId }),
        ...(q.severity === undefined ? {} : { severity: q.severity }),
        ...(q.field === undefined ? {} : { field: q.field }),
        ...(q.text === undefined ? {} : { text: q.text }),
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
      });
    },
  );

  app.get<{ Params: { id: string; recordNumber: number } }>(
    '/api/v1/jobs/:id/results/:recordNumber',
    {
      schema: {
        tags: [TAG],
        summary: "One record's result, with the record's JSON text",
        params: {
          type: 'object',
          required: ['id', 'recordNumber'],
          properties: { id: jobId, recordNumber: { type: 'integer', minimum: 0 } },
          additionalProperties: false,
        },
        response: { 200: storedResult, ...errorResponses(404) },
      },
    },
    async (request) => {
      const { id, recordNumber } = request.params;
      const result = await store.getResult(id, recordNumber);
      if (result !== undefined) return result;
      throw new ApiError(
        404,
        'result_not_found',
        `record ${recordNumber} of job "${id}" has no result: it is not validated yet, it is in the DLQ (GET /api/v1/dlq?jobId=${id}), or the job has fewer records`,
      );
    },
  );
}

export function jobNotFound(id: string): ApiError {
  return new ApiError(404, 'job_not_found', `job "${id}" does not exist; GET /api/v1/jobs lists the jobs`);
}

function jobOr404(job: Job | undefined, id: string): Job {
  if (job === undefined) throw jobNotFound(id);
  return job;
}
