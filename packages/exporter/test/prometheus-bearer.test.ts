import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExporterServer, createLogger } from '@lagscale/exporter';
import { LagMonitor } from '@lagscale/kafka';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';
import { type RunningPrometheus, startPrometheus } from '../../../test-support/prometheus.js';

/**
 * Beyond loopback the exporter needs a token on /metrics: a real Prometheus (Debian's package)
 * scrapes it with the token from a file (`authorization.credentials_file`, as a Secret mounted
 * in a pod gives it), and a job without one is refused. No Kafka: the monitor is never started,
 * and the exporter's own families are enough to show the scrape worked.
 */
describe('Prometheus scraping an exporter that needs a token', () => {
  it('scrapes with authorization credentials, and a job without them sees 401', async () => {
    const secret = 'prometheus-scrape-token-0123456789';
    const monitor = new LagMonitor({ connection: { brokers: ['127.0.0.1:9'] }, intervalSeconds: 5 });
    const app = await createExporterServer({
      monitor,
      logger: createLogger('prometheus-bearer-test', 'silent'),
      auth: { host: '0.0.0.0', tokens: [{ name: 'prometheus', scope: 'read', secret }] },
    });
    await app.listen({ host: '0.0.0.0', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'lagscale-scrape-token-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${secret}\n`);
    let prometheus: RunningPrometheus | undefined;
    try {
      // Two addresses of the same server, so the two targets can be told apart.
      prometheus = await startPrometheus({
        scrapeConfigs: [
          '  - job_name: with-token',
          '    authorization:',
          `      credentials_file: ${JSON.stringify(tokenFile)}`,
          '    static_configs:',
          `      - targets: ['127.0.0.1:${port}']`,
          '  - job_name: without-token',
          '    static_configs:',
          `      - targets: ['localhost:${port}']`,
        ].join('\n'),
      });
      const running = prometheus;
      const targets = await waitFor(
        'Prometheus to scrape both targets',
        async () => {
          const found = await running.targets();
          return found.length === 2 && found.every((target) => target.health !== 'unknown') ? found : undefined;
        },
        30_000,
        250,
      );
      const byUrl = Object.fromEntries(targets.map((target) => [new URL(target.scrapeUrl).hostname, target]));
      expect(byUrl['127.0.0.1']).toMatchObject({ health: 'up', lastError: '' });
      expect(byUrl.localhost?.health).toBe('down');
      expect(byUrl.localhost?.lastError).toContain('401');
      const samples = await running.query('lagscale_collection_duration_seconds_count{job="with-token"}');
      expect(samples).toHaveLength(1);
    } finally {
      await prometheus?.stop();
      await app.close();
      await monitor.stop();
    }
  }, 60_000);
});
