import { apiRequest, type UploadOptions, uploadFile } from './client';
import { buildQuery, type JobUploadParams, jobUploadQuery, type ResultFilters, resultsQuery } from './query';
import type {
  AutoscalerState,
  DecisionsResponse,
  DlqEntry,
  GroupDetailResponse,
  GroupsResponse,
  HistoryResponse,
  Job,
  JobSummary,
  JsonValue,
  Page,
  ReplayResponse,
  ResultPage,
  RuleSetCheck,
  RuleSetListing,
  ShareGroupDetailResponse,
  StoredRuleSet,
  ValidationResult,
} from './types';

const segment = encodeURIComponent;

/** One function per route of docs/http-api.md that the console uses. */
export const api = {
  groups: (signal?: AbortSignal) => apiRequest<GroupsResponse>('/groups', { signal }),
  group: (group: string, signal?: AbortSignal) => apiRequest<GroupDetailResponse>(`/groups/${segment(group)}`, { signal }),
  shareGroup: (group: string, signal?: AbortSignal) => apiRequest<ShareGroupDetailResponse>(`/sharegroups/${segment(group)}`, { signal }),
  history: (group: string, signal?: AbortSignal) => apiRequest<HistoryResponse>(`/history${buildQuery({ group })}`, { signal }),

  autoscaler: (signal?: AbortSignal) => apiRequest<AutoscalerState>('/autoscaler', { signal }),
  decisions: (limit: number, signal?: AbortSignal) => apiRequest<DecisionsResponse>(`/autoscaler/decisions${buildQuery({ limit })}`, { signal }),
  pauseAutoscaler: () => apiRequest<{ paused: boolean }>('/autoscaler/pause', { method: 'POST' }),
  resumeAutoscaler: () => apiRequest<{ paused: boolean }>('/autoscaler/resume', { method: 'POST' }),

  ruleSets: (signal?: AbortSignal) => apiRequest<{ items: readonly RuleSetListing[] }>('/rulesets', { signal }),
  ruleSet: (name: string, signal?: AbortSignal) => apiRequest<StoredRuleSet>(`/rulesets/${segment(name)}`, { signal }),
  saveRuleSet: (document: JsonValue) => apiRequest<StoredRuleSet>('/rulesets', { method: 'POST', json: document }),
  checkRuleSet: (document: JsonValue, signal?: AbortSignal) => apiRequest<RuleSetCheck>('/rulesets/check', { method: 'POST', json: { document }, signal }),

  jobs: (page: { limit: number; cursor: string | null }, signal?: AbortSignal) => apiRequest<Page<Job>>(`/jobs${buildQuery(page)}`, { signal }),
  job: (id: string, signal?: AbortSignal) => apiRequest<Job>(`/jobs/${segment(id)}`, { signal }),
  jobSummary: (id: string, signal?: AbortSignal) => apiRequest<JobSummary>(`/jobs/${segment(id)}/summary`, { signal }),
  results: (id: string, filters: ResultFilters, page: { cursor: string | null; limit: number }, signal?: AbortSignal) =>
    apiRequest<ResultPage>(`/jobs/${segment(id)}/results${resultsQuery(filters, page)}`, { signal }),
  result: (id: string, recordNumber: number, signal?: AbortSignal) => apiRequest<ValidationResult>(`/jobs/${segment(id)}/results/${recordNumber}`, { signal }),
  uploadJob: (file: File, options: Omit<JobUploadParams, 'fileName'> & UploadOptions) =>
    uploadFile<Job>(
      `/jobs${jobUploadQuery({ ruleSet: options.ruleSet, version: options.version, format: options.format, jobId: options.jobId, fileName: file.name })}`,
      file,
      options,
    ),

  dlq: (query: { jobId?: string; limit: number; cursor: string | null }, signal?: AbortSignal) =>
    apiRequest<Page<DlqEntry>>(`/dlq${buildQuery(query)}`, { signal }),
  replayDlq: (id: string, value?: JsonValue) =>
    apiRequest<ReplayResponse>(`/dlq/${segment(id)}/replay`, { method: 'POST', json: value === undefined ? {} : { value } }),
};
