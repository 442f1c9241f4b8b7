import type { Severity } from './types';

export type QueryValue = string | number | boolean | null | undefined;

/** `?a=1&b=x` from the given parameters, leaving out empty ones; '' when none is left. */
export function buildQuery(params: Readonly<Record<string, QueryValue>>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    search.append(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** The results search form, as the user left it. */
export interface ResultFilters {
  readonly validity: 'all' | 'valid' | 'invalid';
  readonly ruleId: string;
  readonly severity: '' | Severity;
  /** A JSON pointer; matches the field and everything inside it. */
  readonly field: string;
  readonly text: string;
}

export const EMPTY_RESULT_FILTERS: ResultFilters = { validity: 'all', ruleId: '', severity: '', field: '', text: '' };

/** A field path as typed (`items/2/sku`, `/items/2/sku`) as the JSON pointer the server expects. */
export function normalizeFieldPath(field: string): string {
  const trimmed = field.trim();
  if (!trimmed) return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/**
 * Query string of `GET /jobs/{id}/results`. Facets cost an aggregate over every match, so they
 * are asked for on the first page only (the counts do not change between pages).
 */
export function resultsQuery(filters: ResultFilters, page: { readonly cursor: string | null; readonly limit: number }): string {
  return buildQuery({
    valid: filters.validity === 'all' ? undefined : filters.validity === 'valid',
    ruleId: filters.ruleId.trim(),
    severity: filters.severity,
    field: normalizeFieldPath(filters.field),
    text: filters.text.trim(),
    limit: page.limit,
    cursor: page.cursor,
    facets: page.cursor === null,
  });
}

/** Record formats the upload endpoint knows. */
export type UploadFormat = 'ndjson' | 'csv' | 'json';

/** Content type to send for a file, from its name; the server detects the rest. */
export function contentTypeForFile(fileName: string, format: UploadFormat | ''): string {
  const chosen = format || formatFromName(fileName);
  if (chosen === 'ndjson') return 'application/x-ndjson';
  if (chosen === 'csv') return 'text/csv';
  if (chosen === 'json') return 'application/json';
  return 'application/octet-stream';
}

export function formatFromName(fileName: string): UploadFormat | '' {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.ndjson') || lower.endsWith('.jsonl')) return 'ndjson';
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.json')) return 'json';
  return '';
}

export interface JobUploadParams {
  readonly ruleSet: string;
  readonly version?: number | null;
  readonly format: UploadFormat | '';
  readonly fileName: string;
  /** Chosen by the console so the job can be followed while the file is still being sent. */
  readonly jobId?: string;
}

export function jobUploadQuery(params: JobUploadParams): string {
  return buildQuery({ ruleSet: params.ruleSet, version: params.version ?? undefined, format: params.format, jobId: params.jobId, filename: params.fileName });
}
