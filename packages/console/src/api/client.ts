import { authHeaders, authStore } from './token';
import type { ApiErrorBody, ErrorDetail } from './types';

export const API_BASE = '/api/v1';

/** A failed request, carrying the server's stable `error` code, its `message` and `details`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
  ) {
    super(message);
  }
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.error === 'string' && typeof record.message === 'string';
}

function toDetails(value: unknown): ErrorDetail[] {
  if (!Array.isArray(value)) return [];
  const details: ErrorDetail[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null) continue;
    const record = item as Record<string, unknown>;
    if (typeof record.message !== 'string') continue;
    details.push({ pointer: typeof record.pointer === 'string' ? record.pointer : '', message: record.message });
  }
  return details;
}

/** Turns an error answer (JSON body or not) into an ApiError with the server's own words. */
export function errorFromResponse(status: number, statusText: string, bodyText: string): ApiError {
  let body: unknown = null;
  try {
    body = bodyText ? JSON.parse(bodyText) : null;
  } catch {
    // Not JSON (a proxy's HTML page, say): fall back to the status line below.
  }
  if (isErrorBody(body)) return new ApiError(status, body.error, body.message, toDetails(body.details));
  const text = bodyText.trim().slice(0, 200);
  return new ApiError(status, `http_${status}`, `the server answered ${status} ${statusText}${text ? `: ${text}` : ''}`.trim());
}

function noteUnauthorized(error: ApiError): void {
  if (error.status === 401) authStore.requireToken(error.message);
}

export interface RequestOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Sent as JSON. */
  readonly json?: unknown;
  readonly signal?: AbortSignal;
}

/** Calls the API and returns the parsed JSON body; throws ApiError for anything but 2xx. */
export async function apiRequest<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders() };
  let body: string | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  let response: Response;
  try {
    response = await fetch(`${API_BASE}${path}`, { method: options.method ?? 'GET', headers, body, signal: options.signal });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ApiError(0, 'network_error', `could not reach the API server (${reason}); is it running?`);
  }
  const text = await response.text();
  if (!response.ok) {
    const error = errorFromResponse(response.status, response.statusText, text);
    noteUnauthorized(error);
    throw error;
  }
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, 'bad_response', `the server answered ${path} with a body that is not JSON`);
  }
}

export interface UploadProgress {
  readonly loaded: number;
  /** Null when the browser cannot tell the size. */
  readonly total: number | null;
}

export interface UploadOptions {
  readonly onProgress?: (progress: UploadProgress) => void;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

/**
 * POSTs a file with XMLHttpRequest rather than fetch: only XHR reports upload progress, and the
 * browser streams the File from disk without reading it into memory first.
 */
export function uploadFile<T>(path: string, file: Blob, options: UploadOptions = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', `${API_BASE}${path}`);
    request.setRequestHeader('accept', 'application/json');
    request.setRequestHeader('content-type', options.contentType || file.type || 'application/octet-stream');
    for (const [name, value] of Object.entries(authHeaders())) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => {
      options.onProgress?.({ loaded: event.loaded, total: event.lengthComputable ? event.total : null });
    };
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) {
        try {
          resolve(JSON.parse(request.responseText) as T);
        } catch {
          reject(new ApiError(request.status, 'bad_response', 'the server accepted the upload but its answer is not JSON'));
        }
        return;
      }
      const error = errorFromResponse(request.status, request.statusText, request.responseText);
      noteUnauthorized(error);
      reject(error);
    };
    request.onerror = () => reject(new ApiError(0, 'network_error', 'the upload was interrupted: the API server could not be reached'));
    request.onabort = () => reject(new DOMException('upload cancelled', 'AbortError'));
    options.signal?.addEventListener('abort', () => request.abort(), { once: true });
    request.send(file);
  });
}
