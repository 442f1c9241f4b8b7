import { randomUUID } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import {
  createRequestProducer,
  ensureValidationTopics,
  type Job,
  type JobSummary,
  type ResultStore,
  type SubmitProgress,
  submitJob,
  type UploadFormat,
} from '@lagscale/validator';
import { type Command, Option } from 'commander';
import { ConfigError, parseInteger, parseSeconds, toConnectionOptions } from '../config.js';
import { table } from '../format.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { openResultStore, resolveStoreConfig, storeForChild } from '../store.js';

interface ValidateFlags extends ConnectionFlags {
  rules: string;
  rulesVersion?: string;
  format?: 'ndjson' | 'csv' | 'json';
  jobId?: string;
  wait?: boolean;
  waitTimeout?: string;
  json?: boolean;
  store?: string;
  delimiter?: string;
  inferTypes?: boolean;
  maxRecordBytes?: string;
}

const FORMATS: Record<string, UploadFormat> = { ndjson: 'ndjson', csv: 'csv', json: 'json-array' };

export function registerValidateCommand(program: Command): void {
  const command = program
    .command('validate')
    .description('submit a file (NDJSON, CSV with a header, or a JSON array) as a validation job; --wait follows the workers to the summary')
    .argument('<file>', 'the records')
    .requiredOption('-r, --rules <name>', 'rule set name')
    // Not --version: the program's own --version (print lagscale's version) takes that anywhere on the line.
    .option('--rules-version <n>', 'rule set version (default: the latest)')
    .addOption(new Option('--format <format>', 'the file format (default: from the name, then the first bytes)').choices(['ndjson', 'csv', 'json']))
    .option('--job-id <id>', 'job id (default: a new UUID); the same id again resubmits the records')
    .option('-w, --wait', 'wait until every record is validated (workers must be running), then print the summary')
    .option('--wait-timeout <duration>', 'give up waiting after this long, e.g. 10m (default: no limit)')
    .option('--json', 'print the job (and summary) as JSON on stdout')
    .option(
      '--store <file|url>',
      'result store shared with the workers: a SQLite file, or OpenSearch or Elasticsearch node URL(s) (default: LAGSCALE_STORE, OPENSEARCH_URL, ELASTICSEARCH_URL, the config file, .lagscale/validator.db)',
    )
    .option('--delimiter <char>', 'CSV field separator (default ",")')
    .option('--infer-types', 'CSV: unquoted numbers, true/false and empty/null become JSON values')
    .option('--max-record-bytes <n>', 'largest record; larger ones go to the DLQ (default 1000000)');
  addConnectionOptions(command).action(async (file: string, flags: ValidateFlags) => {
    let size: number;
    try {
      const stat = statSync(file);
      if (!stat.isFile()) throw new Error('not a file');
      size = stat.size;
    } catch (error) {
      throw new ConfigError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
    }
    const config = resolveConfig(flags);
    const connection = toConnectionOptions(config);
    const version = flags.rulesVersion === undefined ? undefined : parseInteger(flags.rulesVersion, '--rules-version', 1, Number.MAX_SAFE_INTEGER);
    const waitTimeoutMs = flags.waitTimeout === undefined ? undefined : parseSeconds(flags.waitTimeout, '--wait-timeout') * 1000;
    const jobId = flags.jobId ?? randomUUID();
    const storeConfig = resolveStoreConfig(config.store, flags.store);
    const store = await openResultStore(storeConfig);
    const stop = new AbortController();
    const onSignal = (): void => stop.abort(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    let producer: ReturnType<typeof createRequestProducer> | undefined;
    try {
      await ensureValidationTopics(connection);
      producer = createRequestProducer(connection, `lagscale-validate-${process.pid}`);
      const progress = new ProgressLine(process.stderr, 'produced');
      const started = Date.now();
      const submitted = await submitJob(createReadStream(file, { highWaterMark: 256 * 1024 }), {
        store,
        producer,
        jobId,
        ruleSet: flags.rules,
        ...(version === undefined ? {} : { ruleSetVersion: version }),
        source: `file:${basename(file)}`,
        filename: basename(file),
        ...(flags.format === undefined ? {} : { format: FORMATS[flags.format] as UploadFormat }),
        csv: { ...(flags.delimiter === undefined ? {} : { delimiter: flags.delimiter }), ...(flags.inferTypes ? { inferTypes: true } : {}) },
        ...(flags.maxRecordBytes === undefined
          ? {}
          : { limits: { maxRecordBytes: parseInteger(flags.maxRecordBytes, '--max-record-bytes', 1, 64 * 1024 * 1024) } }),
        signal: stop.signal,
        onProgress: (p) => progress.update(describeUpload(p, size, started)),
      });
      progress.finish(
        `job ${jobId}: ${submitted.records} records from ${basename(file)} submitted in ${seconds(Date.now() - started)} ` +
          `(rule set ${submitted.job.ruleSet} v${submitted.job.ruleSetVersion}${submitted.failed > 0 ? `; ${submitted.failed} could not be read and are in the DLQ` : ''})`,
      );
      if (!flags.wait) {
        if (flags.json) process.stdout.write(`${JSON.stringify({ job: submitted.job }, null, 2)}\n`);
        return;
      }
      const job = await followJob(store, jobId, { stop: stop.signal, timeoutMs: waitTimeoutMs, storeName: storeForChild(storeConfig).args[1] ?? '' });
      const summary = (await store.jobSummary(jobId)) as JobSummary;
      if (flags.json) process.stdout.write(`${JSON.stringify({ job, summary }, null, 2)}\n`);
      else process.stdout.write(`${formatSummary(job, summary)}\n`);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await producer?.close();
      await store.close();
    }
  });
}

/** Polls the store until the job's progress is 1; the progress on stderr, a hint when nothing moves. */
async function followJob(store: ResultStore, jobId: string, options: { stop: AbortSignal; timeoutMs: number | undefined; storeName: string }): Promise<Job> {
  const progress = new ProgressLine(process.stderr, 'validated');
  const started = Date.now();
  let lastDone = -1;
  let lastMove = started;
  let hinted = false;
  for (;;) {
    options.stop.throwIfAborted();
    const job = (await store.getJob(jobId)) as Job;
    const done = job.results + job.dlq;
    if (done !== lastDone) {
      lastDone = done;
      lastMove = Date.now();
    }
    if (job.progress === 1) {
      progress.finish(`validated ${job.total} records in ${seconds(Date.now() - started)}: ${job.valid} valid, ${job.invalid} invalid, ${job.dlq} in the DLQ`);
      return job;
    }
    progress.update({
      fraction: job.progress ?? 0,
      text: `${done} of ${job.total ?? '?'} records validated (${job.valid} valid, ${job.invalid} invalid, ${job.dlq} in the DLQ)`,
    });
    if (!hinted && Date.now() - lastMove > 15_000) {
      hinted = true;
      progress.note(`no record validated for 15 s: is a worker running on the same store (lagscale worker --store ${options.storeName})?`);
    }
    if (options.timeoutMs !== undefined && Date.now() - started > options.timeoutMs)
      throw new Error(
        `gave up waiting after ${seconds(options.timeoutMs)}: job ${jobId} has ${done} of ${job.total} records validated; it goes on without you`,
      );
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export interface ProgressState {
  /** 0..1, or null when unknown. */
  readonly fraction: number | null;
  readonly text: string;
}

export function describeUpload(p: SubmitProgress, totalBytes: number, startedAt: number, now = Date.now()): ProgressState {
  const elapsed = Math.max(0.001, (now - startedAt) / 1000);
  const rate = Math.round(p.recordsProduced / elapsed);
  const failed = p.recordsFailed > 0 ? `, ${p.recordsFailed} unreadable (DLQ)` : '';
  return {
    fraction: totalBytes > 0 ? Math.min(1, p.bytesRead / totalBytes) : null,
    text: `${p.recordsProduced} records produced${failed}, ${mib(p.bytesRead)} of ${mib(totalBytes)} read, ${rate} records/s`,
  };
}

/**
 * Progress on a stream: on a terminal a bar redrawn in place (at most 10 times a second), else a
 * plain line every few seconds, so logs of CI runs stay readable.
 */
export class ProgressLine {
  readonly #out: { isTTY?: boolean; columns?: number; write(text: string): unknown };
  readonly #label: string;
  readonly #everyMs: number;
  readonly #now: () => number;
  #last = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(out: { isTTY?: boolean; columns?: number; write(text: string): unknown }, label: string, options: { everyMs?: number; now?: () => number } = {}) {
    this.#out = out;
    this.#label = label;
    this.#now = options.now ?? Date.now;
    this.#everyMs = options.everyMs ?? (out.isTTY ? 100 : 2000);
  }

  update(state: ProgressState): void {
    const now = this.#now();
    if (now - this.#last < this.#everyMs) return;
    this.#last = now;
    if (this.#out.isTTY) {
      this.#out.write(`\r\x1b[2K${this.#bar(state)}`);
      this.#drawn = true;
    } else this.#out.write(`${this.#label}: ${percent(state.fraction)}${state.text}\n`);
  }

  /** A line above the bar. */
  note(text: string): void {
    this.#out.write(`${this.#drawn ? '\r\x1b[2K' : ''}${text}\n`);
    this.#drawn = false;
    this.#last = Number.NEGATIVE_INFINITY;
  }

  /** Replaces the bar with a last line. */
  finish(text: string): void {
    this.#out.write(`${this.#drawn ? '\r\x1b[2K' : ''}${text}\n`);
    this.#drawn = false;
  }

  #bar(state: ProgressState): string {
    const width = 24;
    const filled = state.fraction === null ? 0 : Math.round(state.fraction * width);
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent(state.fraction)}${state.text}`;
    const columns = this.#out.columns ?? 120;
    return line.length < columns ? line : `${line.slice(0, Math.max(10, columns - 2))}…`;
  }
}

function percent(fraction: number | null): string {
  return fraction === null ? '' : `${Math.floor(fraction * 100)}% `;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export function formatSummary(job: Job, summary: JobSummary): string {
  const lines = [
    `job ${job.id}: ${job.total} records, ${job.valid} valid (${summary.warningsOnly} with warnings), ${job.invalid} invalid, ${job.dlq} in the DLQ`,
  ];
  if (summary.byRule.length > 0) {
    lines.push(
      '',
      table(
        ['RULE', 'SEVERITY', 'RECORDS', 'VIOLATIONS'],
        summary.byRule.map((r) => [r.ruleId, r.severity, String(r.records), String(r.violations)]),
      ),
    );
  }
  if (summary.byField.length > 0) {
    const top = summary.byField.slice(0, 10);
    lines.push(
      '',
      table(
        ['FIELD', 'RECORDS', 'VIOLATIONS'],
        top.map((f) => [f.path, String(f.records), String(f.violations)]),
      ),
    );
    if (summary.byField.length > top.length) lines.push(`(and ${summary.byField.length - top.length} more fields)`);
  }
  return lines.join('\n');
}
