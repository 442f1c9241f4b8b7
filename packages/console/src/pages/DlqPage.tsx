import { type FormEvent, useId, useState } from 'react';
import { api } from '../api/endpoints';
import type { DlqEntry, JsonValue } from '../api/types';
import { EmptyState, ErrorMessage, Loading } from '../components/Feedback';
import { Pager, useCursorPages } from '../components/Pager';
import { useResource } from '../hooks/use-resource';
import { formatBytes, formatDateTime } from '../lib/format';
import { locateJson, syntaxAnnotation } from '../lib/json-locations';
import { Link, navigate, pathOf } from '../router';

const PAGE_SIZE = 25;

/** The corrected record typed by the user, or why it cannot be sent. */
export function parseCorrectedValue(text: string): { readonly value: JsonValue } | { readonly problem: string } {
  if (!text.trim()) return { problem: 'Type the corrected record, or use "Replay as is".' };
  const syntax = syntaxAnnotation(text, locateJson(text));
  if (syntax) return { problem: `The corrected record must be JSON; line ${syntax.line}: ${syntax.message.replace(/^not valid JSON: /, '')}` };
  return { value: JSON.parse(text) as JsonValue };
}

function DlqEntryCard({ entry, onReplayed }: { readonly entry: DlqEntry; readonly onReplayed: (entry: DlqEntry) => void }) {
  const [open, setOpen] = useState(false);
  const [corrected, setCorrected] = useState(entry.payloadText ?? '');
  const [problem, setProblem] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [sending, setSending] = useState(false);
  const id = useId();
  const replayable = entry.jobId !== null;

  const replay = async (value: JsonValue | undefined) => {
    setSending(true);
    setError(null);
    try {
      const answer = await api.replayDlq(entry.id, value);
      onReplayed({ ...entry, replayedAt: answer.replayedAt });
      setOpen(false);
    } catch (failure) {
      setError(failure instanceof Error ? failure : new Error(String(failure)));
    } finally {
      setSending(false);
    }
  };
  const replayCorrected = (event: FormEvent) => {
    event.preventDefault();
    const parsed = parseCorrectedValue(corrected);
    if ('problem' in parsed) {
      setProblem(parsed.problem);
      return;
    }
    setProblem(null);
    void replay(parsed.value);
  };

  return (
    <li className="dlq-entry" data-testid={`dlq-entry-${entry.id}`} aria-labelledby={`${id}-title`}>
      <div className="dlq-head">
        <h3 id={`${id}-title`}>
          <code>{entry.code}</code> {entry.reason}
        </h3>
        {entry.replayedAt !== null ? (
          <span className="badge badge-ok" data-testid="replayed">
            replayed {formatDateTime(entry.replayedAt)}
          </span>
        ) : null}
      </div>
      <p className="muted">
        {entry.jobId !== null ? (
          <>
            Job <Link to={pathOf('jobs', entry.jobId)}>{entry.jobId}</Link>
            {entry.recordNumber !== null ? `, record ${entry.recordNumber}` : ''} ·{' '}
          </>
        ) : (
          'No job (its envelope could not be read) · '
        )}
        {entry.topic}[{entry.partition}]@{entry.offset} · {formatBytes(entry.payloadSize)}
        {entry.payloadTruncated ? ' (truncated)' : ''} · {formatDateTime(entry.createdAt)}
      </p>
      <pre className="json payload">{entry.payloadText ?? `(binary) ${entry.payloadBase64.slice(0, 200)}`}</pre>
      {replayable ? (
        <button type="button" onClick={() => setOpen((value) => !value)} aria-expanded={open} aria-controls={`${id}-replay`}>
          Replay…
        </button>
      ) : (
        <p className="muted">Cannot be replayed: the message has no job.</p>
      )}
      {open ? (
        <form id={`${id}-replay`} className="replay-form" onSubmit={replayCorrected}>
          <label htmlFor={`${id}-value`}>Corrected value (JSON record)</label>
          <textarea
            id={`${id}-value`}
            value={corrected}
            onChange={(event) => setCorrected(event.target.value)}
            rows={6}
            spellCheck={false}
            aria-invalid={problem !== null}
            aria-describedby={problem ? `${id}-problem` : undefined}
          />
          {problem ? (
            <p id={`${id}-problem`} className="field-error">
              {problem}
            </p>
          ) : null}
          <div className="actions">
            <button type="submit" className="primary" disabled={sending}>
              Replay corrected value
            </button>
            {/* A cut payload cannot go back as it is (the server refuses it): only a corrected record can. */}
            <button type="button" onClick={() => void replay(undefined)} disabled={sending || entry.payloadTruncated}>
              Replay as is
            </button>
          </div>
        </form>
      ) : null}
      {error ? <ErrorMessage error={error} title="Replay failed" /> : null}
    </li>
  );
}

export function DlqPage({ jobId }: { readonly jobId: string | null }) {
  const pages = useCursorPages();
  const [jobFilter, setJobFilter] = useState(jobId ?? '');
  const [replayed, setReplayed] = useState<ReadonlyMap<string, DlqEntry>>(new Map());
  const { cursor } = pages;
  const entries = useResource((signal) => api.dlq({ jobId: jobId ?? undefined, limit: PAGE_SIZE, cursor }, signal), `${jobId ?? ''}:${cursor ?? ''}`);

  const filter = (event: FormEvent) => {
    event.preventDefault();
    pages.reset();
    navigate(jobFilter.trim() ? `/dlq?jobId=${encodeURIComponent(jobFilter.trim())}` : '/dlq');
  };

  return (
    <section aria-labelledby="dlq-title">
      <div className="page-head">
        <h1 id="dlq-title">Dead-letter queue</h1>
      </div>
      <p className="muted">Messages that could not be validated at all (not JSON, too large, no rule set). Replay sends one back, as it was or corrected.</p>
      {/* biome-ignore lint/a11y/useSemanticElements: <search> is too recent for jsdom and older browsers; role=search on the form works everywhere */}
      <form className="filters" onSubmit={filter} role="search" aria-label="Filter dead letters">
        <div className="field">
          <label htmlFor="dlq-job">Job id</label>
          <input id="dlq-job" value={jobFilter} onChange={(event) => setJobFilter(event.target.value)} spellCheck={false} />
        </div>
        <div className="actions">
          <button type="submit">Filter</button>
        </div>
      </form>
      {entries.error ? <ErrorMessage error={entries.error} title="Could not load the dead letters" /> : null}
      {!entries.data && !entries.error ? <Loading what="dead letters" /> : null}
      {entries.data && entries.data.items.length === 0 ? (
        <EmptyState title="The dead-letter queue is empty">{jobId ? 'No entries for this job.' : 'Every message so far could be validated.'}</EmptyState>
      ) : null}
      {entries.data && entries.data.items.length > 0 ? (
        <ul className="dlq-list" aria-label="Dead letters">
          {entries.data.items.map((entry) => (
            <DlqEntryCard
              key={entry.id}
              entry={replayed.get(entry.id) ?? entry}
              onReplayed={(updated) => setReplayed((current) => new Map(current).set(updated.id, updated))}
            />
          ))}
        </ul>
      ) : null}
      <Pager label="Dead-letter pages" pages={pages} nextCursor={entries.data?.nextCursor} />
    </section>
  );
}
