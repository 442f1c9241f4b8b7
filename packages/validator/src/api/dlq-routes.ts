import type { FastifyInstance } from 'fastify';
import { encodeRequest, VALIDATION_TOPICS } from '../jobs/envelope.js';
import type { DlqEntry } from '../store/store.js';
import { ApiError, errorResponses } from './errors.js';
import { cursorParameter, dlqEntry, jobId, limitParameter, page } from './schemas.js';
import type { ApiContext } from './validator-api.js';

const TAG = 'dead-letter queue';
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 300 } },
  additionalProperties: false,
} as const;

/** A DLQ entry as the API shows it: the payload as base64, and as text when it is UTF-8. */
export interface DlqEntryView extends Omit<DlqEntry, 'payload'> {
  readonly payloadBase64: string;
  readonly payloadText: string | null;
}

/** `/api/v1/dlq...`: list, one entry, replay. */
export function registerDlqRoutes(app: FastifyInstance, context: ApiContext): void {
  const { store } = context;

  app.get<{ Querystring: { jobId?: string; limit: number; cursor?: string } }>(
    '/api/v1/dlq',
    {
      schema: {
        tags: [TAG],
        summary: 'List dead-letter entries, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { jobId: { ...jobId, description: 'only this job' }, limit: limitParameter, cursor: cursorParameter },
        },
        response: { 200: page(dlqEntry), ...errorResponses() },
      },
    },
    async (request) => {
      const { jobId: job, limit, cursor } = request.query;
      const listed = await store.listDlq({ limit, ...(job === undefined ? {} : { jobId: job }), ...(cursor === undefined ? {} : { cursor }) });
      return { items: listed.items.map(toView), nextCursor: listed.nextCursor };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/dlq/:id',
    {
      schema: { tags: [TAG], summary: 'One dead-letter entry', params: idParams, response: { 200: dlqEntry, ...errorResponses(404) } },
    },
    async (request) => toView(await entryOr404(context, request.params.id)),
  );

  app.post<{ Params: { id: string }; Body: { value?: unknown } }>(
    '/api/v1/dlq/:id/replay',
    {
      config: { scope: 'write' },
      schema: {
        tags: [TAG],
        summary: 'Send a dead-lettered record back for validation',
        description:
          "The record goes back to validation.requests for its job and the job's rule set version, as it was or as `value` (a corrected " +
          'record). 409 `dlq_not_replayable` when the entry has no job, or its payload was cut and no value is given.',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { value: { description: 'a corrected record (any JSON value) to send instead of the original' } },
        },
        response: {
          202: { type: 'object', required: ['id', 'replayedAt'], properties: { id: { type: 'string' }, replayedAt: { type: 'integer' } } },
          ...errorResponses(404, 409, 413, 415, 503),
        },
      },
      // Replay without a body: nothing to correct.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const entry = await entryOr404(context, request.params.id);
      if (entry.jobId === null || entry.recordNumber === null || entry.recordNumber < 1)
        throw new ApiError(
          409,
          'dlq_not_replayable',
          `DLQ entry "${entry.id}" has no job or record number (its envelope could not be read): produce it again yourself`,
        );
      const job = await store.getJob(entry.jobId);
      if (job === undefined)
        throw new ApiError(
          409,
          'dlq_not_replayable',
          `DLQ entry "${entry.id}" belongs to job "${entry.jobId}", which is not in the store: its rule set is unknown`,
        );
      let value: Buffer;
      if (request.body.value !== undefined) {
        value = Buffer.from(JSON.stringify(request.body.value), 'utf8');
        if (value.length > context.limits.maxRecordBytes)
          throw new ApiError(
            413,
            'record_too_large',
            `the corrected record is ${value.length} bytes as JSON, over the limit of ${context.limits.maxRecordBytes}`,
            [{ pointer: '/value', message: `is ${value.length} bytes, over the limit of ${context.limits.maxRecordBytes}` }],
          );
      } else {
        if (entry.payloadTruncated)
          throw new ApiError(
            409,
            'dlq_not_replayable',
            `DLQ entry "${entry.id}" keeps only the first ${entry.payload.byteLength} of ${entry.payloadSize} bytes: send the corrected record as "value"`,
          );
        value = Buffer.from(entry.payload);
      }
      const message = encodeRequest({ jobId: job.id, recordNumber: entry.recordNumber, ruleSet: job.ruleSet, ruleSetVersion: job.ruleSetVersion, value });
      const producer = await context.producer();
      await producer.send({
        messages: [
          {
            topic: context.options.requestsTopic ?? VALIDATION_TOPICS.requests,
            key: message.key,
            value: message.value,
            headers: new Map(Object.entries(message.headers).map(([name, header]) => [Buffer.from(name), header])),
          },
        ],
      });
      const replayedAt = context.now();
      await store.markDlqReplayed(entry.id, replayedAt);
      request.log.info(
        {
          event: 'dlq_replayed',
          dlqId: entry.id,
          jobId: job.id,
          recordNumber: entry.recordNumber,
          corrected: request.body.value !== undefined,
          token: request.apiToken?.name,
        },
        'dead letter replayed',
      );
      reply.code(202);
      return { id: entry.id, replayedAt };
    },
  );
}

async function entryOr404(context: ApiContext, id: string): Promise<DlqEntry> {
  const entry = await context.store.getDlq(id);
  if (entry === undefined) throw new ApiError(404, 'dlq_not_found', `DLQ entry "${id}" does not exist; GET /api/v1/dlq lists the entries`);
  return entry;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function toView(entry: DlqEntry): DlqEntryView {
  const { payload, ...rest } = entry;
  return { ...rest, payloadBase64: Buffer.from(payload).toString('base64'), payloadText: payloadText(payload, entry.payloadTruncated) };
}

/** The payload as text when it is UTF-8; a payload cut inside a character is shown without that character's first bytes. */
function payloadText(payload: Uint8Array, truncated: boolean): string | null {
  for (let cut = 0; cut <= (truncated ? 3 : 0) && cut <= payload.byteLength; cut++) {
    try {
      return utf8.decode(payload.subarray(0, payload.byteLength - cut));
    } catch {
      // try without the last bytes: a sequence cut by the truncation
    }
  }
  return null;
}
