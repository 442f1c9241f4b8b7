import type { KafkaConnectionOptions } from '@lagscale/kafka';
import type { FastifyInstance } from 'fastify';
import { createRequestProducer, DEFAULT_SUBMIT_MAX_RECORD_BYTES, ensureValidationTopics, type RequestProducer, serialSends } from '../jobs/submit.js';
import { DEFAULT_MAX_DEPTH } from '../jobs/upload-record.js';
import type { ValidationBudgets } from '../sandbox/budgets.js';
import type { ResultStore } from '../store/store.js';
import { registerDlqRoutes } from './dlq-routes.js';
import { ApiError, registerApiErrorHandler } from './errors.js';
import { registerJobRoutes } from './job-routes.js';
import { registerJsonBodyParser, schemaCompiler } from './request-parsing.js';
import { registerRuleSetRoutes } from './rule-set-routes.js';
import { RuleSetSandbox } from './rule-set-sandbox.js';
import type { UploadMetrics } from './upload-metrics.js';
import { registerUploadRoute } from './upload-route.js';

export interface ValidatorApiLimits {
  /** Bytes of one upload (`POST /api/v1/jobs`, streamed). Default 4 GiB. */
  readonly maxUploadBytes?: number;
  /** Records in one upload. Default: no limit. */
  readonly maxUploadRecords?: number;
  /** Bytes of one record: in an upload (a larger one goes to the DLQ), a dry run or a replay. Default 1,000,000. */
  readonly maxRecordBytes?: number;
  /** Nesting of a record and of a JSON body. Default 64. */
  readonly maxDepth?: number;
  /** Bytes of a JSON body (rule sets, dry runs, replays). Default 4 MiB. */
  readonly maxJsonBodyBytes?: number;
  /** Milliseconds an upload may send nothing before it is stopped (408; the records read are kept). Default 60,000. */
  readonly uploadIdleMs?: number;
}

export interface ValidatorApiOptions {
  readonly store: ResultStore;
  /**
   * Kafka, for uploads and DLQ replays: with a connection the API creates the validation topics
   * when missing and its own idempotent producer (closed with the app), on the first upload;
   * or pass a producer. Without either, uploads and replays answer 503.
   */
  readonly connection?: KafkaConnectionOptions;
  readonly producer?: RequestProducer;
  readonly limits?: ValidatorApiLimits;
  /** Producer batching of uploads (tests make it small to watch records flow). */
  readonly upload?: { readonly batchRecords?: number; readonly lingerMs?: number };
  readonly requestsTopic?: string;
  readonly deadLetterTopic?: string | null;
  readonly now?: () => number;
  /** Counts uploads and the records they produced or sent to the DLQ (for a /metrics route). */
  readonly metrics?: UploadMetrics;
  /** Time and memory a check, a save or a dry run may spend compiling and validating (see sandbox/budgets.ts). */
  readonly validationBudgets?: Partial<ValidationBudgets>;
}

export interface ResolvedApiLimits {
  readonly maxUploadBytes: number;
  readonly maxUploadRecords: number | undefined;
  readonly maxRecordBytes: number;
  readonly maxDepth: number;
  readonly maxJsonBodyBytes: number;
  readonly uploadIdleMs: number;
}

/** What the route modules share. */
export interface ApiContext {
  readonly store: ResultStore;
  readonly limits: ResolvedApiLimits;
  readonly producer: () => Promise<RequestProducer>;
  readonly options: ValidatorApiOptions;
  readonly now: () => number;
  /** Where rule sets are compiled and dry runs validated: a thread, within budgets. */
  readonly sandbox: RuleSetSandbox;
}

/**
 * The validation service's routes (docs/http-api.md: rule sets, jobs, results, DLQ) in their own
 * scope: its JSON parser (size and depth limits), its schema validation and its error bodies.
 * Register `registerOpenApi` and `registerApiAuth` on the app first: they see routes added after them.
 */
export async function registerValidatorApi(app: FastifyInstance, options: ValidatorApiOptions): Promise<void> {
  const limits = resolveLimits(options.limits ?? {});
  const now = options.now ?? Date.now;
  const producer = producerSource(options);
  const sandbox = new RuleSetSandbox({
    ...(options.validationBudgets === undefined ? {} : { budgets: options.validationBudgets }),
    onIncident: (incident) => app.log.warn({ event: 'validation_thread_replaced', ...incident }, `an API validation thread was replaced: ${incident.detail}`),
  });
  app.addHook('onClose', async () => {
    await Promise.all([producer.close(), sandbox.close()]);
  });
  await app.register(async (scope) => {
    const context: ApiContext = { store: options.store, limits, producer: producer.get, options, now, sandbox };
    scope.setValidatorCompiler(schemaCompiler());
    registerJsonBodyParser(scope, { maxBytes: limits.maxJsonBodyBytes, maxDepth: limits.maxDepth });
    registerApiErrorHandler(scope, { maxJsonBodyBytes: limits.maxJsonBodyBytes, notFound: false });
    registerRuleSetRoutes(scope, context);
    registerJobRoutes(scope, context);
    registerDlqRoutes(scope, context);
    await scope.register(async (uploads) => registerUploadRoute(uploads, context));
  });
}

function resolveLimits(limits: ValidatorApiLimits): ResolvedApiLimits {
  const check = (name: keyof ValidatorApiLimits, fallback: number): number => {
    const value = limits[name] ?? fallback;
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`limits.${name} must be a positive integer, got ${String(value)}`);
    return value;
  };
  return {
    maxUploadBytes: check('maxUploadBytes', 4 * 1024 ** 3),
    maxUploadRecords: limits.maxUploadRecords === undefined ? undefined : check('maxUploadRecords', 1),
    maxRecordBytes: check('maxRecordBytes', DEFAULT_SUBMIT_MAX_RECORD_BYTES),
    maxDepth: check('maxDepth', DEFAULT_MAX_DEPTH),
    maxJsonBodyBytes: check('maxJsonBodyBytes', 4 * 1024 * 1024),
    uploadIdleMs: check('uploadIdleMs', 60_000),
  };
}

/**
 * The producer, made on first use; a failure (Kafka down) answers 503 and is not remembered, so
 * the next request tries again.
 */
function producerSource(options: ValidatorApiOptions): { get: () => Promise<RequestProducer>; close: () => Promise<void> } {
  if (options.producer !== undefined) {
    const given = serialSends(options.producer);
    return { get: async () => given, close: async () => {} };
  }
  const connection = options.connection;
  let made: Promise<RequestProducer & { close(): Promise<void> }> | undefined;
  const make = async (): Promise<RequestProducer & { close(): Promise<void> }> => {
    if (connection === undefined)
      throw new ApiError(
        503,
        'kafka_unavailable',
        'this server has no Kafka connection, so it cannot submit records: start it with brokers (--brokers or KAFKA_BROKERS)',
      );
    try {
      await ensureValidationTopics(connection);
      return createRequestProducer(connection, `lagscale-api-${process.pid}`);
    } catch (error) {
      throw new ApiError(503, 'kafka_unavailable', `Kafka cannot be reached to submit records (${(error as Error).message}); retry later`);
    }
  };
  return {
    get: () => {
      if (made === undefined) {
        const attempt = make();
        made = attempt;
        attempt.catch(() => {
          if (made === attempt) made = undefined;
        });
      }
      return made;
    },
    close: async () => {
      const producer = await made?.catch(() => undefined);
      await producer?.close();
    },
  };
}
