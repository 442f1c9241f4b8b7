export * from './auth.js';
export type { DlqEntryView } from './dlq-routes.js';
export * from './errors.js';
export * from './openapi.js';
export { parseJsonBody, registerJsonBodyParser, schemaCompiler } from './request-parsing.js';
export { MAX_DRY_RUN_RECORDS } from './rule-set-routes.js';
export { UploadMetrics } from './upload-metrics.js';
export { UPLOAD_CONTENT_TYPES } from './upload-route.js';
export { type ResolvedApiLimits, registerValidatorApi, type ValidatorApiLimits, type ValidatorApiOptions } from './validator-api.js';
