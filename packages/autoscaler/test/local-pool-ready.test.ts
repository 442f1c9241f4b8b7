import { LocalProcessPool } from '@lagscale/autoscaler';
import { createLogger } from '@lagscale/exporter';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-support/kafka.js';

const logger = createLogger('test-pool-ready', 'silent');

/**
 * A worker like `lagscale worker` as the pool sees it: it announces its metrics address in a JSON
 * log line and answers /readyz with 503 until `readyAfterMs` after its start, then 200.
 */
const worker = (readyAfterMs: number): string[] => [
  process.execPath,
  '-e',
  `const started = Date.now();
   const server = require('node:http').createServer((req, res) => {
     const ready = req.url === '/readyz' && Date.now() - started >= ${readyAfterMs};
     res.writeHead(ready ? 200 : 503); res.end(ready ? 'ready' : 'starting');
   });
   server.listen(0, '127.0.0.1', () => {
     const url = 'http://127.0.0.1:' + server.address().port;
     console.log(JSON.stringify({ event: 'worker_started', metricsUrl: url + '/metrics' }));
   });
   process.on('SIGTERM', () => process.exit(0));`,
];

describe('LocalProcessPool ready replicas', () => {
  it('counts a worker ready once its /readyz answers 200, not when it is spawned', async () => {
    const pool = new LocalProcessPool({ command: worker(1500), logger, output: 'ignore', readinessPath: '/readyz', drainTimeoutSeconds: 5 });
    try {
      await pool.setReplicas(2);
      expect(await pool.currentReplicas()).toBe(2);
      // Just spawned: no address announced yet, or /readyz says 503.
      expect(await pool.readyReplicas()).toBe(0);
      await waitFor('both workers announce their address', async () => pool.workers().every((w) => w.metricsUrl !== null), 10_000, 50);
      const started = Date.now();
      await waitFor('both workers ready', async () => (await pool.readyReplicas()) === 2, 10_000, 100);
      console.log(`local pool: 2 current, 0 ready at spawn, 2 ready ${Date.now() - started} ms after the addresses were announced`);
      await pool.setReplicas(3);
      expect(await pool.currentReplicas()).toBe(3);
      expect(await pool.readyReplicas()).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('without readinessPath every running worker is ready (a pod without a readiness probe)', async () => {
    const pool = new LocalProcessPool({ command: worker(60_000), logger, output: 'ignore', drainTimeoutSeconds: 5 });
    try {
      await pool.setReplicas(2);
      expect(await pool.readyReplicas()).toBe(2);
    } finally {
      await pool.close();
    }
  });
});
