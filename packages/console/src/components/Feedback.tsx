import type { ReactNode } from 'react';
import { ApiError } from '../api/client';

/** The server's own message (and code, and located details) for a failed request. */
export function ErrorMessage({ error, title }: { readonly error: Error; readonly title?: string }) {
  const details = error instanceof ApiError ? error.details : [];
  return (
    <div className="error" role="alert">
      <p>
        <strong>{title ?? 'Something went wrong'}:</strong> {error.message}
        {error instanceof ApiError && error.code ? <span className="error-code"> ({error.code})</span> : null}
      </p>
      {details.length > 0 ? (
        <ul>
          {details.map((detail) => (
            <li key={`${detail.pointer}:${detail.message}`}>
              <code>{detail.pointer || '/'}</code> {detail.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function EmptyState({ title, children }: { readonly title: string; readonly children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children ? <div className="empty-body">{children}</div> : null}
    </div>
  );
}

export function Loading({ what }: { readonly what: string }) {
  return (
    <p className="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** Status of a group or partition (Burrow's vocabulary) with a colour that is never the only cue. */
export function StatusBadge({ status, reason }: { readonly status: string; readonly reason?: string }) {
  const tone = status === 'OK' ? 'ok' : status === 'WARN' ? 'warn' : 'bad';
  return (
    <span className={`badge badge-${tone}`} title={reason}>
      {status}
    </span>
  );
}

export function SeverityBadge({ severity }: { readonly severity: string }) {
  return <span className={`badge ${severity === 'error' ? 'badge-bad' : 'badge-warn'}`}>{severity}</span>;
}
