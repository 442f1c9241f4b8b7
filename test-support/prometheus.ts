import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '@lagscale/kafka';
import { waitFor } from './kafka.js';

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface PromAlert {
  readonly labels: Record<string, string>;
  readonly state: 'pending' | 'firing';
}

export interface RunningPrometheus {
  readonly url: string;
  /** An instant query; throws with Prometheus' error when the query does not parse or run. */
  query(promql: string): Promise<PromSample[]>;
  /** A range query over the last `seconds` (what Grafana runs for a panel), one point every `step` seconds. */
  queryRange(promql: string, seconds: number, step?: number): Promise<{ metric: Record<string, string>; values: [number, string][] }[]>;
  alerts(): Promise<PromAlert[]>;
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

/**
 * A real Prometheus (Debian's package) on a free loopback port, with the given scrape configs
 * (YAML, the `scrape_configs:` list items) and rule files, scraping and evaluating every second.
 * `webConfig` (the YAML of --web.config.file: tls_server_config, basic_auth_users) puts its API
 * behind TLS and/or passwords; then `url` uses `webConfig.scheme`, readiness is a TCP connect, and
 * the query helpers here, which do not authenticate, are not for that server.
 */
export async function startPrometheus(options: {
  readonly scrapeConfigs: string;
  readonly ruleFiles?: readonly string[];
  readonly webConfig?: { readonly yaml: string; readonly scheme: 'http' | 'https' };
}): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'lagscale-prometheus-'));
  const [port] = (await freePorts(1)) as [number];
  const rules = (options.ruleFiles ?? []).map((file) => `  - ${JSON.stringify(file)}`).join('\n');
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      ...(rules === '' ? [] : ['rule_files:', rules]),
      'scrape_configs:',
      options.scrapeConfigs,
      '',
    ].join('\n'),
  );
  const webArgs: string[] = [];
  if (options.webConfig !== undefined) {
    writeFileSync(join(dir, 'web.yml'), options.webConfig.yaml);
    webArgs.push(`--web.config.file=${join(dir, 'web.yml')}`);
  }
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, ...webArgs],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    log = (log + chunk).slice(-8000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start prometheus (install Debian's prometheus package): ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`prometheus exited (code ${code}):\n${log}`)));
  });
  failed.catch(() => {});
  const url = `${options.webConfig?.scheme ?? 'http'}://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error}`);
    return body.data;
  };
  const stop = async (): Promise<void> => {
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ready =
      options.webConfig === undefined
        ? async () => (await fetch(`${url}/-/ready`)).ok
        : () =>
            new Promise<boolean>((resolve) => {
              const socket = connect(port, '127.0.0.1', () => {
                socket.destroy();
                resolve(true);
              });
              socket.on('error', () => resolve(false));
            });
    await Promise.race([failed, waitFor('Prometheus to be ready', ready, 30_000, 200)]);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    query: async (promql) => (await api<{ result: PromSample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result,
    queryRange: async (promql, seconds, step = 1) => {
      const end = Date.now() / 1000;
      const path = `/api/v1/query_range?query=${encodeURIComponent(promql)}&start=${end - seconds}&end=${end}&step=${step}`;
      return (await api<{ result: { metric: Record<string, string>; values: [number, string][] }[] }>(path)).result;
    },
    alerts: async () => (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts,
    targets: async () => (await api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>('/api/v1/targets')).activeTargets,
    stop,
  };
}

/** A test-only basic-auth user; `hash` is the bcrypt (cost 4, to keep Prometheus' check cheap) of `password`. */
export const TEST_BASIC_AUTH = {
  username: 'lagscale',
  password: 'lagscale-test-password',
  hash: '$2b$04$7/SCzPYXwClU9erU1zC.6OjqMGFDMIJSyhL/CSZTmnGcPxFGi089W',
} as const;

/** A self-signed certificate for 127.0.0.1 (its own CA) and its key, as PEM files in `dir`. */
export function selfSignedCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]),
    { stdio: 'ignore' },
  );
  return { cert, key };
}

/**
 * A self-signed certificate for 127.0.0.1 (its own CA) in `dir`, and the web config that puts a
 * Prometheus behind it with TEST_BASIC_AUTH: pass `webConfig` to startPrometheus.
 */
export function securedWebConfig(dir: string): { cert: string; key: string; webConfig: { yaml: string; scheme: 'https' } } {
  const { cert, key } = selfSignedCertificate(dir);
  const yaml = [
    'tls_server_config:',
    `  cert_file: ${cert}`,
    `  key_file: ${key}`,
    'basic_auth_users:',
    `  ${TEST_BASIC_AUTH.username}: '${TEST_BASIC_AUTH.hash}'`,
    '',
  ];
  return { cert, key, webConfig: { yaml: yaml.join('\n'), scheme: 'https' } };
}
