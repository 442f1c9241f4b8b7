import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { api } from '../api/endpoints';
import { contentTypeForFile, type UploadFormat } from '../api/query';
import type { Job, RuleSetListing } from '../api/types';
import { formatBytes, formatCount, progressPercent } from '../lib/format';
import { Link, pathOf } from '../router';
import { ErrorMessage } from './Feedback';
import { ProgressBar } from './ProgressBar';

/** A job id chosen here, so the job can be followed while its file is still being sent. */
export function newJobId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // randomUUID exists only in secure contexts; a console opened over plain HTTP on a LAN address lacks it.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** "420 of 1,000 records done (3 invalid, 1 in the DLQ)". */
export function describeJobProgress(job: Job | null): string {
  if (!job) return 'waiting for the first records';
  const done = job.results + job.dlq;
  const of = job.total === null ? 'records so far (total known when the upload ends)' : `of ${formatCount(job.total)} records done`;
  const extra = [`${formatCount(job.invalid)} invalid`, job.dlq > 0 ? `${formatCount(job.dlq)} in the DLQ` : null].filter(Boolean).join(', ');
  return `${formatCount(done)} ${of} (${extra})`;
}

type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'uploading' }
  | { readonly kind: 'processing' }
  | { readonly kind: 'done' }
  | { readonly kind: 'failed'; readonly error: Error };

interface JobUploadProps {
  readonly ruleSets: readonly RuleSetListing[];
  readonly initialRuleSet?: string | null;
  /** How often to ask the server how far the job is. */
  readonly pollIntervalMs?: number;
  readonly onFinished?: (job: Job) => void;
}

/**
 * Upload of a records file: sent with XHR (upload progress), then followed by polling
 * `GET /jobs/{id}` until every record has a result or a DLQ entry.
 */
export function JobUpload({ ruleSets, initialRuleSet, pollIntervalMs = 1000, onFinished }: JobUploadProps) {
  const [ruleSet, setRuleSet] = useState(initialRuleSet && ruleSets.some((item) => item.name === initialRuleSet) ? initialRuleSet : (ruleSets[0]?.name ?? ''));
  const [format, setFormat] = useState<UploadFormat | ''>('');
  const [file, setFile] = useState<File | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [sent, setSent] = useState<{ loaded: number; total: number | null } | null>(null);
  const [job, setJob] = useState<Job | null>(null);
  const cancel = useRef<AbortController | null>(null);
  const onFinishedRef = useRef(onFinished);
  onFinishedRef.current = onFinished;
  const formId = useId();

  useEffect(() => {
    if (!ruleSet && ruleSets[0]) setRuleSet(ruleSets[0].name);
  }, [ruleSet, ruleSets]);
  useEffect(() => () => cancel.current?.abort(), []);

  const follow = (jobId: string, signal: AbortSignal, uploadDone: () => boolean) =>
    new Promise<Job>((resolve, reject) => {
      const poll = async () => {
        if (signal.aborted) return;
        try {
          const latest = await api.job(jobId, signal);
          if (signal.aborted) return;
          setJob(latest);
          if (uploadDone() && latest.progress !== null && latest.progress >= 1) {
            resolve(latest);
            return;
          }
        } catch (error) {
          if (signal.aborted) return;
          // Until the server has created the job (its first records), the id is unknown: keep asking.
          if (!(error instanceof ApiError && error.status === 404)) {
            reject(error);
            return;
          }
        }
        setTimeout(poll, pollIntervalMs);
      };
      void poll();
    });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!file || !ruleSet) return;
    cancel.current?.abort();
    const controller = new AbortController();
    cancel.current = controller;
    const jobId = newJobId();
    setJob(null);
    setSent({ loaded: 0, total: file.size });
    setPhase({ kind: 'uploading' });
    let uploaded = false;
    const following = follow(jobId, controller.signal, () => uploaded);
    following.catch(() => undefined);
    try {
      const created = await api.uploadJob(file, {
        ruleSet,
        format,
        jobId,
        contentType: contentTypeForFile(file.name, format),
        signal: controller.signal,
        onProgress: (progress) => setSent(progress),
      });
      uploaded = true;
      setJob((current) => current ?? created);
      setPhase({ kind: 'processing' });
      const finished = await following;
      setPhase({ kind: 'done' });
      onFinishedRef.current?.(finished);
    } catch (error) {
      if (controller.signal.aborted) return;
      controller.abort();
      setPhase({ kind: 'failed', error: error instanceof Error ? error : new Error(String(error)) });
    }
  };

  const busy = phase.kind === 'uploading' || phase.kind === 'processing';
  const uploadPercent = sent?.total ? Math.floor((sent.loaded / sent.total) * 100) : sent ? null : 0;
  const jobPercent = phase.kind === 'done' ? 100 : (progressPercent(job?.progress) ?? 0);

  return (
    <form className="upload-form" onSubmit={submit} aria-labelledby={`${formId}-title`} noValidate>
      <h2 id={`${formId}-title`}>Upload records</h2>
      {ruleSets.length === 0 ? (
        <p className="muted">
          Create a rule set first: <Link to="/rulesets/new">new rule set</Link>.
        </p>
      ) : null}
      <div className="form-row">
        <div className="field">
          <label htmlFor={`${formId}-ruleset`}>Rule set</label>
          <select id={`${formId}-ruleset`} value={ruleSet} onChange={(event) => setRuleSet(event.target.value)} disabled={busy} required>
            {ruleSets.map((item) => (
              <option key={item.name} value={item.name}>
                {item.name} (v{item.latestVersion})
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${formId}-format`}>Format</label>
          <select id={`${formId}-format`} value={format} onChange={(event) => setFormat(event.target.value as UploadFormat | '')} disabled={busy}>
            <option value="">Detect from the file</option>
            <option value="ndjson">NDJSON (one JSON record a line)</option>
            <option value="csv">CSV with a header row</option>
            <option value="json">JSON array</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${formId}-file`}>Records file</label>
          <input
            id={`${formId}-file`}
            type="file"
            accept=".ndjson,.jsonl,.json,.csv,application/json,text/csv,application/x-ndjson"
            onChange={(event) => setFile(event.target.files?.[0] ?? null)}
            disabled={busy}
            required
          />
        </div>
      </div>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy || !file || !ruleSet}>
          Upload
        </button>
        {busy ? (
          <button type="button" onClick={() => cancel.current?.abort()}>
            Stop following
          </button>
        ) : null}
      </div>
      {phase.kind !== 'idle' ? (
        <div className="upload-progress" data-testid="upload-status">
          <ProgressBar
            label="Upload progress"
            percent={uploadPercent}
            valueText={sent ? `${formatBytes(sent.loaded)}${sent.total ? ` of ${formatBytes(sent.total)}` : ''} sent` : undefined}
            tone={uploaded(phase) ? 'done' : 'normal'}
          />
          <ProgressBar
            label="Job progress"
            testId="job-progress"
            percent={jobPercent}
            valueText={describeJobProgress(job)}
            tone={phase.kind === 'done' ? 'done' : phase.kind === 'failed' ? 'failed' : 'normal'}
          />
        </div>
      ) : null}
      {phase.kind === 'failed' ? <ErrorMessage error={phase.error} title="The upload failed" /> : null}
      {phase.kind === 'done' && job ? (
        <p className="success" role="status" data-testid="upload-done">
          Done: {formatCount(job.valid)} valid, {formatCount(job.invalid)} invalid
          {job.dlq > 0 ? `, ${formatCount(job.dlq)} in the dead-letter queue` : ''}.{' '}
          <Link to={pathOf('jobs', job.id)} data-testid="open-job">
            Open job {job.id}
          </Link>
        </p>
      ) : null}
      {phase.kind === 'processing' && job ? (
        <p className="muted" role="status">
          Records are being validated. <Link to={pathOf('jobs', job.id)}>Open job {job.id}</Link>
        </p>
      ) : null}
    </form>
  );
}

function uploaded(phase: Phase): boolean {
  return phase.kind === 'processing' || phase.kind === 'done';
}
