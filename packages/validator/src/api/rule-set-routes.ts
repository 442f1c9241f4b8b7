import type { FastifyInstance } from 'fastify';
import { type CompiledRuleSet, compileRuleSet } from '../rules/compile.js';
import type { RuleSetDocument } from '../rules/rule-set.js';
import { RuleSetError } from '../rules/rule-set-error.js';
import { InMemoryUniquenessTracker } from '../rules/uniqueness.js';
import { validateRecord, validationFailure } from '../rules/validate.js';
import { type StoredRuleSet, StoreError } from '../store/store.js';
import { ApiError, errorResponses } from './errors.js';
import { ruleSetDocument, ruleSetIssue, ruleSetListing, ruleSetName, storedRuleSet, violation } from './schemas.js';
import type { ApiContext } from './validator-api.js';

const TAG = 'rule sets';
export const MAX_DRY_RUN_RECORDS = 100;
/** Compiled rule sets kept for dry runs (a compile builds an ajv validator: milliseconds). */
const COMPILED_CACHE_SIZE = 32;

const nameParams = { type: 'object', required: ['name'], properties: { name: ruleSetName }, additionalProperties: false } as const;

/** `/api/v1/rulesets...`: list, create (a new version), check, get, get a version, dry run. */
export function registerRuleSetRoutes(app: FastifyInstance, context: ApiContext): void {
  const { store } = context;
  const compiled = new CompiledCache(COMPILED_CACHE_SIZE);

  app.get(
    '/api/v1/rulesets',
    {
      schema: {
        tags: [TAG],
        summary: 'List rule sets',
        description: 'Every rule set name with its versions, by name.',
        response: { 200: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: ruleSetListing } } }, ...errorResponses() },
      },
    },
    async () => ({ items: await store.listRuleSets() }),
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/api/v1/rulesets',
    {
      config: { scope: 'write' },
      schema: {
        tags: [TAG],
        summary: 'Create a rule set, or a new version of one',
        description:
          'Without `version` the server assigns the next one (1 for a new name). The document is checked first: ' +
          '422 `rule_set_invalid` lists every mistake with its JSON pointer. Versions are immutable: the same version with the ' +
          'same document answers 200, with another document 409 `rule_set_version_exists`.',
        body: ruleSetDocument,
        response: { 200: storedRuleSet, 201: storedRuleSet, ...errorResponses(409, 413, 415, 422) },
      },
    },
    async (request, reply) => {
      const document = request.body;
      const assignVersion = document.version === undefined;
      for (let attempt = 1; ; attempt++) {
        let version = document.version;
        // Without a valid name the version does not matter: the check below reports the name.
        if (assignVersion) version = typeof document.name === 'string' ? ((await store.getRuleSet(document.name))?.version ?? 0) + 1 : 1;
        const candidate = { ...document, ...(version === undefined ? {} : { version }) };
        compileRuleSet(candidate);
        const { name } = candidate as unknown as RuleSetDocument;
        try {
          const saved = await store.saveRuleSet(name, version as number, candidate as unknown as RuleSetDocument, context.now());
          request.log.info({ event: 'rule_set_saved', ruleSet: name, version, created: saved.created, token: request.apiToken?.name }, 'rule set saved');
          reply.code(saved.created ? 201 : 200);
          return saved.ruleSet;
        } catch (error) {
          // Two saves without a version picked the same next version: the later one takes the one after.
          const raced = assignVersion && error instanceof StoreError && error.code === 'RULE_SET_VERSION_CHANGED';
          if (!raced || attempt >= 3) throw error;
        }
      }
    },
  );

  app.post<{ Body: { document: unknown } }>(
    '/api/v1/rulesets/check',
    {
      config: { scope: 'write' },
      schema: {
        tags: [TAG],
        summary: 'Check a rule set document without saving it',
        description: "The editor's inline errors: every mistake with its JSON pointer. A document without `version` is checked as if it had one.",
        body: { type: 'object', required: ['document'], properties: { document: {} }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            required: ['valid'],
            properties: { valid: { type: 'boolean' }, errors: { type: 'array', items: ruleSetIssue } },
          },
          ...errorResponses(413, 415),
        },
      },
    },
    async (request) => {
      const { document } = request.body;
      const candidate =
        typeof document === 'object' && document !== null && !Array.isArray(document) && !('version' in document) ? { ...document, version: 1 } : document;
      try {
        compileRuleSet(candidate);
        return { valid: true };
      } catch (error) {
        if (!(error instanceof RuleSetError)) throw error;
        return { valid: false, errors: error.issues.map((issue) => ({ pointer: issue.pointer, message: issue.message })) };
      }
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/rulesets/:name',
    {
      schema: {
        tags: [TAG],
        summary: 'The latest version of a rule set',
        params: nameParams,
        response: { 200: storedRuleSet, ...errorResponses(404) },
      },
    },
    async (request) => ruleSetOr404(await store.getRuleSet(request.params.name), request.params.name),
  );

  app.get<{ Params: { name: string; version: number } }>(
    '/api/v1/rulesets/:name/versions/:version',
    {
      schema: {
        tags: [TAG],
        summary: 'One version of a rule set',
        params: {
          type: 'object',
          required: ['name', 'version'],
          properties: { name: ruleSetName, version: { type: 'integer', minimum: 1 } },
          additionalProperties: false,
        },
        response: { 200: storedRuleSet, ...errorResponses(404) },
      },
    },
    async (request) => ruleSetOr404(await store.getRuleSet(request.params.name, request.params.version), request.params.name, request.params.version),
  );

  app.post<{ Params: { name: string }; Body: { records: unknown[]; version?: number } }>(
    '/api/v1/rulesets/:name/dry-run',
    {
      config: { scope: 'write' },
      schema: {
        tags: [TAG],
        summary: 'Validate sample records against a rule set, without a job',
        description: `1 to ${MAX_DRY_RUN_RECORDS} records; \`unique\` rules compare the records of this request with each other. \`index\` counts from 0.`,
        params: nameParams,
        body: {
          type: 'object',
          required: ['records'],
          additionalProperties: false,
          properties: {
            records: { type: 'array', minItems: 1, maxItems: MAX_DRY_RUN_RECORDS, items: {}, description: 'records as JSON values' },
            version: { type: 'integer', minimum: 1, description: 'default: the latest' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['name', 'version', 'results'],
            properties: {
              name: { type: 'string' },
              version: { type: 'integer' },
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['index', 'valid', 'violations'],
                  properties: {
                    index: { type: 'integer', minimum: 0 },
                    valid: { type: 'boolean' },
                    violations: { type: 'array', items: violation },
                    truncated: { type: 'boolean', description: 'present and true when more violations were found than the rule set keeps' },
                    deadLetter: {
                      type: 'object',
                      required: ['code', 'reason'],
                      properties: { code: { type: 'string' }, reason: { type: 'string' } },
                      description: 'present when validating the record failed: a worker would send it to the DLQ with this code and reason',
                    },
                  },
                },
              },
            },
          },
          ...errorResponses(404, 413, 415),
        },
      },
    },
    async (request) => {
      const { name } = request.params;
      const { records, version } = request.body;
      records.forEach((record, index) => {
        const size = Buffer.byteLength(JSON.stringify(record), 'utf8');
        if (size > context.limits.maxRecordBytes)
          throw new ApiError(413, 'record_too_large', `record ${index} is ${size} bytes as JSON, over the limit of ${context.limits.maxRecordBytes}`, [
            { pointer: `/records/${index}`, message: `is ${size} bytes, over the limit of ${context.limits.maxRecordBytes}` },
          ]);
      });
      const stored = ruleSetOr404(await store.getRuleSet(name, version), name, version);
      const ruleSet = compiled.get(stored);
      const uniqueness = new InMemoryUniquenessTracker();
      const now = context.now();
      const results = records.map((record, index) => {
        try {
          const result = validateRecord(ruleSet, record, { jobId: 'dry-run', recordNumber: index + 1, uniqueness, now });
          return { index, valid: result.valid, violations: result.violations, ...(result.truncated === true ? { truncated: true } : {}) };
        } catch (error) {
          // What the worker does with such a record: a dead letter with the reason.
          const { code, reason } = validationFailure(error);
          return { index, valid: false, violations: [], deadLetter: { code, reason } };
        }
      });
      return { name: stored.name, version: stored.version, results };
    },
  );
}

function ruleSetOr404(ruleSet: StoredRuleSet | undefined, name: string, version?: number): StoredRuleSet {
  if (ruleSet !== undefined) return ruleSet;
  const which = version === undefined ? `rule set "${name}"` : `rule set "${name}" version ${version}`;
  throw new ApiError(404, 'rule_set_not_found', `${which} does not exist; GET /api/v1/rulesets lists the rule sets and their versions`);
}

/** Compiled rule sets by name and version (versions are immutable), least recently used dropped first. */
class CompiledCache {
  readonly #entries = new Map<string, CompiledRuleSet>();

  constructor(readonly size: number) {}

  get(stored: StoredRuleSet): CompiledRuleSet {
    const key = `${stored.version}@${stored.name}`;
    let entry = this.#entries.get(key);
    if (entry !== undefined) this.#entries.delete(key);
    else {
      try {
        entry = compileRuleSet(stored.document);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new ApiError(409, 'rule_set_invalid', `rule set "${stored.name}" version ${stored.version} cannot be used: ${message}; save a corrected version`);
      }
    }
    this.#entries.set(key, entry);
    if (this.#entries.size > this.size) this.#entries.delete(this.#entries.keys().next().value as string);
    return entry;
  }
}
