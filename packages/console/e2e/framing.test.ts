import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStackServer } from '@lagscale/cli/dist/stack/server.js';
import type { GroupLag, LagSnapshot } from '@lagscale/core';
import { createLogger } from '@lagscale/exporter';
import type { LagMonitor } from '@lagscale/kafka';
import { SqliteResultStore } from '@lagscale/validator';
import type { FastifyInstance } from 'fastify';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot } from '../../../test-support/browser.js';

const GROUP = 'orders.v1';

/** One collection of one group with a single partition: enough for every chart of the group page. */
function snapshotAt(time: number, lag: number): LagSnapshot {
  const group: GroupLag = {
    group: GROUP,
    state: 'Stable',
    members: 2,
    isolation: 'read_uncommitted',
    status: 'OK',
    statusReason: 'lag is falling',
    lag,
    lagComplete: true,
    timeLagSeconds: lag / 100,
    produceRate: 120,
    consumeRate: 150,
    topics: ['orders'],
    partitions: [
      {
        topic: 'orders',
        partition: 0,
        committedOffset: 10_000 - lag,
        logEndOffset: 10_000,
        logStartOffset: 0,
        lag,
        timeLagSeconds: lag / 100,
        timeLagMode: 'estimate',
        produceRate: 120,
        consumeRate: 150,
        status: 'OK',
        statusReason: 'lag is falling',
        owner: { memberId: 'm-1', clientId: 'orders-worker', host: '/127.0.0.1' },
      },
    ],
  };
  return { time, groups: [group], topics: [], errors: [], stats: { durationMs: 3, requests: 4, brokers: 1 } };
}

/** The lag engine as the stack server reads it, without Kafka: the snapshots are emitted by the test. */
function scriptedMonitor(): LagMonitor & EventEmitter {
  let latest: LagSnapshot | null = null;
  const monitor = Object.assign(new EventEmitter(), {
    intervalMs: 5_000,
    lastSuccess: 0,
    counters: { cycles: 0, failedCycles: 0 },
    lastError: null,
    history: () => [],
    stop: async () => {},
  });
  Object.defineProperty(monitor, 'latest', { get: () => latest });
  monitor.on('snapshot', (snapshot: LagSnapshot) => {
    latest = snapshot;
    monitor.lastSuccess = Date.now();
    monitor.counters.cycles++;
  });
  return monitor as unknown as LagMonitor & EventEmitter;
}

/** A page of another origin (another loopback port) that frames a URL, as a clickjacking page would. */
function attackerSite(): Promise<{ server: Server; origin: string; framing: (url: string) => string }> {
  const server = createServer((request, response) => {
    const target = new URL(request.url ?? '/', 'http://attacker').searchParams.get('frame') ?? '';
    if (request.url?.startsWith('/frameable')) {
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><p id="framed">a page that allows framing</p>');
      return;
    }
    response
      .writeHead(200, { 'content-type': 'text/html' })
      .end(`<!doctype html><title>win a prize</title><button>Claim</button><iframe name="victim" src="${target}" width="800" height="600"></iframe>`);
  });
  return new Promise((resolve) => {
    server.listen(0, 'localhost', () => {
      const { port } = server.address() as { port: number };
      const origin = `http://localhost:${port}`;
      resolve({ server, origin, framing: (url) => `${origin}/?frame=${encodeURIComponent(url)}` });
    });
  });
}

/** The attacker page's frame (a blocked frame loses its name: it is the page's one child frame). */
async function victimFrame(page: Page): Promise<Frame> {
  const frame = page.mainFrame().childFrames()[0];
  if (frame === undefined) throw new Error('the attacker page has no frame');
  return frame;
}

/**
 * Clickjacking (a page of another origin frames the token-less console and a click replays a DLQ
 * entry) and the console's own policy, in Debian's Chromium: the frame is blocked, and the console
 * works under its Content-Security-Policy with no violation. No Kafka: the stack's server with a
 * scripted monitor and a SQLite store.
 */
describe('the console in a browser: no framing, and a policy it works under', () => {
  let app: FastifyInstance;
  let consoleUrl: string;
  let attacker: Awaited<ReturnType<typeof attackerSite>>;
  let browser: Browser;
  const monitor = scriptedMonitor();

  beforeAll(async () => {
    const store = SqliteResultStore.open(join(mkdtempSync(join(tmpdir(), 'lagscale-framing-')), 'results.db'));
    const stack = await createStackServer({
      monitor,
      autoscaler: null,
      store,
      connection: { brokers: ['127.0.0.1:9'] },
      logger: createLogger('framing-test', 'silent'),
      host: '127.0.0.1',
      tokens: [],
    });
    expect(stack.consoleBuilt, 'the console is built (npm run build)').toBe(true);
    app = stack.app;
    app.addHook('onClose', async () => store.close());
    const now = Date.now();
    for (let i = 0; i < 12; i++) monitor.emit('snapshot', snapshotAt(now - (12 - i) * 5_000, 4_000 - i * 300));
    await app.listen({ host: '127.0.0.1', port: 0 });
    consoleUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    attacker = await attackerSite();
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    attacker?.server.close();
    await app?.close();
  });

  it('shows the console to no page of another origin', async () => {
    const page = await browser.newPage();
    const refusals: string[] = [];
    page.on('console', (message) => {
      if (/frame-ancestors|X-Frame-Options/i.test(message.text())) refusals.push(message.text());
    });
    try {
      // The harness sees a framed page when framing is allowed: the check below can fail.
      await page.goto(attacker.framing(`${attacker.origin}/frameable`));
      await expect.poll(async () => (await victimFrame(page)).locator('#framed').count()).toBe(1);

      for (const path of ['/', '/#/dlq', '/api/v1/dlq', '/does-not-exist.js.map']) {
        refusals.length = 0;
        await page.goto(attacker.framing(`${consoleUrl}${path}`));
        await expect.poll(() => refusals.length, { message: `the browser refuses to frame ${path}` }).toBeGreaterThan(0);
        const frame = await victimFrame(page);
        expect(await frame.locator('#root').count(), path).toBe(0);
        expect(frame.url(), path).not.toContain(consoleUrl);
      }
      await screenshot(page, 'framing-refused');
    } finally {
      await page.close();
    }
  });

  it('works under its Content-Security-Policy: pages, charts and the live feed, with no violation', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const violations: string[] = [];
    await page.exposeFunction('reportViolation', (text: string) => violations.push(text));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => {
        (window as unknown as { reportViolation(text: string): void }).reportViolation(
          `${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`,
        );
      });
    });
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    try {
      const response = await page.goto(`${consoleUrl}/#/`);
      expect(response?.headers()['content-security-policy']).toContain("style-src 'self'");
      await expect.poll(() => page.getByText(GROUP).count()).toBeGreaterThan(0);

      await page.goto(`${consoleUrl}/#/groups/${encodeURIComponent(GROUP)}`);
      // Recharts draws each chart as an SVG surface, with styles set through the DOM.
      await expect.poll(() => page.locator('svg.recharts-surface').count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(4);
      await expect.poll(() => page.locator('.recharts-line path, path.recharts-curve').count()).toBeGreaterThan(0);
      // A live point arrives over the feed (connect-src 'self') and the page keeps drawing.
      monitor.emit('snapshot', snapshotAt(Date.now(), 500));
      await page.getByText('orders-worker').first().waitFor();
      // The tooltip is a styled element Recharts positions as the pointer moves.
      const chart = page.locator('svg.recharts-surface').first();
      const box = await chart.boundingBox();
      if (box !== null) await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await screenshot(page, 'console-under-csp-group');

      for (const path of ['/#/rulesets', '/#/rulesets/new', '/#/jobs', '/#/dlq', '/#/autoscaler']) {
        await page.goto(`${consoleUrl}${path}`);
        await page.locator('#root *').first().waitFor();
        // Its requests answered and rendered (the live feed never goes idle, so no 'networkidle').
        await page.waitForTimeout(500);
      }
      await screenshot(page, 'console-under-csp-last');
      expect(violations).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);
});
