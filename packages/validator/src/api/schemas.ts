import { JOB_ID_PATTERN } from '../jobs/envelope.js';
import { RULE_SET_NAME_PATTERN, RULE_SET_NAME_RULE } from '../rules/rule-set.js';

/**
 * JSON schemas of the API's shapes (docs/http-api.md). Each route's schema is built from these:
 * they validate requests, serialize responses and make the OpenAPI document.
 */

const integer = (minimum: number, description?: string) => ({ type: 'integer', minimum, ...(description === undefined ? {} : { description }) }) as const;
const epochMs = { type: 'integer', description: 'epoch milliseconds' } as const;
const nullableEpochMs = { type: ['integer', 'null'], description: 'epoch milliseconds, null when not yet' } as const;

export const ruleSetName = { type: 'string', pattern: RULE_SET_NAME_PATTERN.source, description: `rule set name: ${RULE_SET_NAME_RULE}` } as const;
export const jobId = { type: 'string', pattern: JOB_ID_PATTERN.source, description: "job id: 1 to 128 letters, digits, '.', '_' or '-'" } as const;
export const limitParameter = { type: 'integer', minimum: 1, maximum: 1000, default: 50, description: 'items per page (1 to 1000)' } as const;
export const cursorParameter = { type: 'string', minLength: 1, maxLength: 2048, description: 'nextCursor of the previous page, unchanged' } as const;
export const nextCursor = { type: ['string', 'null'], description: 'pass back as cursor for the next page; null on the last page' } as const;

export const ruleSetDocument = {
  type: 'object',
  additionalProperties: true,
  description: 'a rule set document: name, version, description?, schema?, references?, rules (see the validator README, "Rule set format")',
} as const;

export const storedRuleSet = {
  type: 'object',
  required: ['name', 'version', 'document', 'createdAt'],
  properties: { name: { type: 'string' }, version: integer(1), document: ruleSetDocument, createdAt: epochMs },
} as const;

export const ruleSetListing = {
  type: 'object',
  required: ['name', 'latestVersion', 'versions', 'updatedAt'],
  properties: {
    name: { type: 'string' },
    latestVersion: integer(1),
    versions: { type: 'array', items: integer(1), description: 'ascending' },
    updatedAt: { ...epochMs, description: 'when the latest version was saved, epoch milliseconds' },
  },
} as const;

export const ruleSetIssue = {
  type: 'object',
  required: ['pointer', 'message'],
  properties: { pointer: { type: 'string', description: 'JSON pointer into the document' }, message: { type: 'string' } },
} as const;

export const violation = {
  type: 'object',
  required: ['ruleId', 'severity', 'path', 'message'],
  properties: {
    ruleId: { type: 'string', description: 'the rule id, or schema:<keyword> for the JSON Schema' },
    severity: { type: 'string', enum: ['error', 'warning'] },
    path: { type: 'string', description: 'JSON pointer of the offending field' },
    message: { type: 'string' },
  },
} as const;

export const job = {
  type: 'object',
  required: ['id', 'ruleSet', 'ruleSetVersion', 'total', 'createdAt', 'source', 'results', 'valid', 'invalid', 'dlq', 'progress'],
  properties: {
    id: { type: 'string' },
    ruleSet: { type: 'string' },
    ruleSetVersion: integer(1),
    total: { type: ['integer', 'null'], description: 'records in the job; null while the upload is being read' },
    createdAt: epochMs,
    source: { type: 'string', description: 'where the records come from, e.g. upload:orders.ndjson' },
    results: integer(0, 'records with a result'),
    valid: integer(0),
    invalid: integer(0),
    dlq: integer(0, 'records in the dead-letter queue (not replayed)'),
    progress: { type: ['number', 'null'], minimum: 0, maximum: 1, description: '(results + dlq) / total; null while the total is unknown' },
    uploadSha256: {
      type: ['string', 'null'],
      description:
        'SHA-256 of the upload once it was read to the end. Submitting the same bytes again under the id answers the job; other bytes answer 409. Null while the upload is read or after it was cut short (submit it again to complete the job).',
    },
  },
} as const;

const violationCount = {
  records: integer(0, 'distinct records'),
  violations: integer(0),
} as const;

const ruleCount = {
  type: 'object',
  required: ['ruleId', 'severity', 'records', 'violations'],
  properties: { ruleId: { type: 'string' }, severity: { type: 'string', enum: ['error', 'warning'] }, ...violationCount },
} as const;

const severityCount = {
  type: 'object',
  required: ['severity', 'records', 'violations'],
  properties: { severity: { type: 'string', enum: ['error', 'warning'] }, ...violationCount },
} as const;

export const jobSummary = {
  type: 'object',
  required: ['jobId', 'records', 'valid', 'invalid', 'warningsOnly', 'truncated', 'violations', 'byRule', 'byField', 'byFieldTruncated', 'bySeverity'],
  properties: {
    jobId: { type: 'string' },
    records: integer(0, 'records with a result'),
    valid: integer(0),
    invalid: integer(0),
    warningsOnly: integer(0, 'valid records with warnings'),
    truncated: integer(0, 'records whose violations were cut to the rule set limit'),
    violations: integer(0),
    byRule: { type: 'array', items: ruleCount, description: 'most violations first' },
    byField: {
      type: 'array',
      description: 'most violations first, at most 200 paths',
      items: { type: 'object', required: ['path', 'records', 'violations'], properties: { path: { type: 'string' }, ...violationCount } },
    },
    byFieldTruncated: { type: 'boolean' },
    bySeverity: { type: 'array', items: severityCount },
  },
} as const;

export const storedResult = {
  type: 'object',
  required: ['jobId', 'recordNumber', 'valid', 'violations', 'truncated', 'recordOmitted'],
  properties: {
    jobId: { type: 'string' },
    recordNumber: integer(0),
    valid: { type: 'boolean' },
    violations: { type: 'array', items: violation },
    truncated: { type: 'boolean', description: 'the rule engine kept fewer violations than it found' },
    record: { type: 'string', description: "the record's JSON text, when kept" },
    recordOmitted: { type: 'boolean', description: "the record was over the store's size cap and is not kept" },
  },
} as const;

export const resultFacets = {
  type: 'object',
  required: ['records', 'byRule', 'bySeverity'],
  properties: {
    records: integer(0, 'records that match the filter'),
    byRule: { type: 'array', items: ruleCount },
    bySeverity: { type: 'array', items: severityCount },
  },
} as const;

export const dlqEntry = {
  type: 'object',
  required: [
    'id',
    'jobId',
    'recordNumber',
    'topic',
    'partition',
    'offset',
    'reason',
    'code',
    'payloadBase64',
    'payloadText',
    'payloadSize',
    'payloadTruncated',
    'createdAt',
    'replayedAt',
  ],
  properties: {
    id: { type: 'string' },
    jobId: { type: ['string', 'null'], description: 'null when the message did not say (its envelope could not be read)' },
    recordNumber: { type: ['integer', 'null'] },
    topic: { type: 'string', description: 'where the message was read; upload:<job id> for a record of an upload that could not be read' },
    partition: integer(0),
    offset: { type: 'integer', minimum: 0, description: 'the Kafka offset; the record number for upload:<job id>' },
    reason: { type: 'string', description: 'for people' },
    code: { type: 'string', description: 'for programs: invalid_json, too_large, unknown_rule_set...' },
    payloadBase64: { type: 'string', description: 'the record as received (its first bytes when payloadTruncated)' },
    payloadText: { type: ['string', 'null'], description: 'the payload as text when it is UTF-8, else null' },
    payloadSize: integer(0, 'bytes as received'),
    payloadTruncated: { type: 'boolean' },
    createdAt: epochMs,
    replayedAt: nullableEpochMs,
  },
} as const;

export function page(items: object) {
  return { type: 'object', required: ['items', 'nextCursor'], properties: { items: { type: 'array', items }, nextCursor } } as const;
}
