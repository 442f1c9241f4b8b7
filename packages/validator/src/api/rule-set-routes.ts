import type { FastifyInstance } from 'fastify';
import type { RuleSetDocument } from '../rules/rule-set.js';
import { RuleSetError } from '../rules/rule-set-error.js';
import { type StoredRuleSet, StoreError } from '../store/store.js';
import { ApiError, errorResponses } from './errors.js';
import { ruleSetDocument, ruleSetIssue, ruleSetListing, ruleSetName, storedRuleSet, violation } from './schemas.js';
import type { ApiContext } from './validator-api.js';

const TAG = 'rule sets';
export const MAX_DRY_RUN_RECORDS = 100;

const nameParams = { type: 'object', required: ['name'], properties: { name: ruleSetName }, additionalProperties: false } as const;

/** `/api/v1/rulesets...`: list, create (a new version), check, get, get a version, dry run. */
export function registerRuleSetRoutes(app: FastifyInstance, context: ApiContext): void {
  const { store, sandbox } = context;

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
          '422 `rule_set_invalid` lists every mistake with its JSON pointer, a part over a cost limit among them (docs/http-api.md, Budgets). Versions are immutable: the same version with the ' +
          'same document answers 200, with another document 409 `rule_set_version_exists`.',
        body: ruleSetDocument,
        response: { 200: storedRuleSet, 201: storedRuleSet, ...errorResponses(409, 413, 415, 422, 503) },
      },
    },
    async (request, reply) => {
      const document = request.body;
      const assignVersion = document.version === undefined;
      // Checked once, as version 1 when the server assigns it (the version does not change what compiles).
      const issues = await sandbox.check(assignVersion ? { ...document, version: 1 } : document);
      if (issues !== null) throw new RuleSetError(issues, typeof document.name === 'string' ? document.name : undefined);
      for (let attempt = 1; ; attempt++) {
        let version = document.version;
        if (assignVersion) version = ((await store.getRuleSet(document.name as string))?.version ?? 0) + 1;
        const candidate = { ...document, ...(version === undefined ? {} : { version }) };
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
          ...errorResponses(413, 415, 503),
        },
      },
    },
    async (request) => {
      const { document } = request.body;
      const candidate =
        typeof document === 'object' && document !== null && !Array.isArray(document) && !('version' in document) ? { ...document, version: 1 } : document;
      const issues = await sandbox.check(candidate);
      if (issues === null) return { valid: true };
      return { valid: false, errors: new RuleSetError(issues).issues.map((issue) => ({ pointer: issue.pointer, message: issue.message })) };
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
        description:
          `1 to ${MAX_DRY_RUN_RECORDS} records; \`unique\` rules compare the records of this request with each other. \`index\` counts from 0. ` +
          'Each record has the time budget a worker gives it: one that overruns is answered with `deadLetter.code` `validation_timeout` ' +
          '(after 3 such records the rest are not run). 409 `rule_set_too_costly` when the stored version overruns the compile budget.',
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
          ...errorResponses(404, 409, 413, 415, 503),
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
      const results = await sandbox.dryRun(stored, records, context.now());
      return { name: stored.name, version: stored.version, results };
    },
  );
}

function ruleSetOr404(ruleSet: StoredRuleSet | undefined, name: string, version?: number): StoredRuleSet {
  if (ruleSet !== undefined) return ruleSet;
  const which = version === undefined ? `rule set "${name}"` : `rule set "${name}" version ${version}`;
  throw new ApiError(404, 'rule_set_not_found', `${which} does not exist; GET /api/v1/rulesets lists the rule sets and their versions`);
}
