import { CONTENT_TYPE, createLogger, PrometheusText, serverOptions, writeProcessMetrics } from '@lagscale/exporter';
import type { KafkaConnectionOptions } from '@lagscale/kafka';
import {
  ApiConfigError,
  type ApiToken,
  assertApiListenAllowed,
  registerApiAuth,
  registerApiErrorHandler,
  registerOpenApi,
  registerValidatorApi,
  UploadMetrics,
} from '@lagscale/validator';
import type { Command } from 'commander';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { apiTokens } from '../api-tokens.js';
import { ConfigError, parseInteger, toConnectionOptions } from '../config.js';
import { addConnectionOptions, type ConnectionFlags, resolveConfig } from '../options.js';
import { listenOn, untilStopSignal } from '../runtime.js';
import { registerConsoleAssets } from '../stack/console-assets.js';
import { describeStore, openResultStore, resolveStoreConfig } from '../store.js';
import { addBudgetOptions, type BudgetFlags, budgetsFrom } from '../validation-budgets.js';

const CLOSE_GRACE_MS = 10_000;

interface ApiFlags extends ConnectionFlags, BudgetFlags {
  store?: string;
  host: string;
  port: string;
  maxUploadBytes?: string;
  maxRecordBytes?: string;
  console?: boolean;
}

/** Refuses a listen address beyond loopback without tokens, as a config error (start-up stops with what to fix). */
export function assertListenAllowed(host: string, tokens: readonly ApiToken[]): void {
  try {
    assertApiListenAllowed(host, tokens);
  } catch (error) {
    if (error instanceof ApiConfigError) throw new ConfigError(error.message);
    throw error;
  }
}

export function registerApiCommand(program: Command): void {
  const command = program
    .command('api')
    .description('the validation service HTTP API: rule sets, jobs (uploads), results, DLQ; /openapi.json, /healthz')
    .option(
      '--store <file|url>',
      'result store shared with the workers: a SQLite file, or OpenSearch or Elasticsearch node URL(s) (default: LAGSCALE_STORE, OPENSEARCH_URL, ELASTICSEARCH_URL, the config file, .lagscale/validator.db)',
    )
    .option('--host <address>', 'listen address; beyond loopback API tokens are required (LAGSCALE_API_TOKENS)', '127.0.0.1')
    .option('-p, --port <port>', 'listen port (0: any free port)', '8080')
    .option('--max-upload-bytes <n>', 'largest upload (default 4 GiB)')
    .option('--max-record-bytes <n>', 'largest record; larger ones go to the DLQ (default 1000000)')
    .option('--console', 'also serve the web console at / (its validation pages; the lag pages need the local stack or the controller)');
  addBudgetOptions(command);
  addConnectionOptions(command).action(async (flags: ApiFlags) => {
    const config = resolveConfig(flags);
    const host = flags.host;
    const port = parseInteger(flags.port, '--port', 0, 65535);
    const tokens = apiTokens(config);
    assertListenAllowed(host, tokens);
    const logger = createLogger('lagscale-api');
    // Without brokers the API still serves the store (rule sets, results); uploads answer 503.
    let connection: KafkaConnectionOptions | undefined;
    if (config.kafka.brokers.length > 0) connection = toConnectionOptions(config);
    else logger.warn({ event: 'no_kafka' }, 'no Kafka brokers (--brokers or KAFKA_BROKERS): uploads and DLQ replays will answer 503');
    const limits = {
      ...(flags.maxUploadBytes === undefined ? {} : { maxUploadBytes: parseInteger(flags.maxUploadBytes, '--max-upload-bytes', 1, Number.MAX_SAFE_INTEGER) }),
      ...(flags.maxRecordBytes === undefined ? {} : { maxRecordBytes: parseInteger(flags.maxRecordBytes, '--max-record-bytes', 1, 64 * 1024 * 1024) }),
    };

    const storeConfig = resolveStoreConfig(config.store, flags.store);
    const store = await openResultStore(storeConfig);
    const app = Fastify(serverOptions(logger as FastifyBaseLogger));
    try {
      // With the console, unknown paths are its pages (it answers a JSON 404 under /api itself).
      registerApiErrorHandler(app, { notFound: flags.console !== true });
      await registerOpenApi(app);
      registerApiAuth(app, { tokens, ...(config.api?.allowedHosts === undefined ? {} : { allowedHosts: config.api.allowedHosts }) });
      app.get(
        '/healthz',
        { config: { scope: 'none' }, schema: { summary: 'Alive', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } },
        async () => ({ status: 'ok' }),
      );
      const uploads = new UploadMetrics();
      app.get('/metrics', { config: { scope: 'none' } }, async (_request, reply) => {
        const out = new PrometheusText();
        uploads.write(out);
        writeProcessMetrics(out);
        reply.header('content-type', CONTENT_TYPE);
        return out.toString();
      });
      await registerValidatorApi(app, {
        store,
        ...(connection === undefined ? {} : { connection }),
        limits,
        metrics: uploads,
        validationBudgets: budgetsFrom(flags),
      });
      // After the API's routes: the console answers only what they do not (its files are public, the API keeps its tokens).
      if (flags.console === true) await registerConsoleAssets(app);
      const url = await listenOn(app, { ...config, exporter: { host, port } });
      logger.info(
        { event: 'api_started', url, store: describeStore(storeConfig), tokens: tokens.map((t) => `${t.name}:${t.scope}`), kafka: connection?.brokers ?? [] },
        `validation API on ${url} (OpenAPI document at ${url}/openapi.json)${tokens.length === 0 ? '; no tokens: loopback clients only' : ''}`,
      );
      const signal = await untilStopSignal();
      logger.info({ event: 'api_stopping', signal }, `closing the API; requests in progress get ${CLOSE_GRACE_MS / 1000} s to finish`);
    } finally {
      // In-flight requests (an upload) may finish; then every connection is closed, including
      // ones a client opened and never used, which would otherwise hold the close for a minute.
      const grace = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      grace.unref();
      await app.close();
      clearTimeout(grace);
      await store.close();
    }
  });
}
