import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The stack as `npm start` runs it, in this process (its workers are child processes).
import { defaultConfig } from '@lagscale/cli/dist/config.js';
import { demoPlan, replayDemo } from '@lagscale/cli/dist/stack/demo.js';
import { demoOrder } from '@lagscale/cli/dist/stack/demo-records.js';
import { type LocalStack, startLocalStack } from '@lagscale/cli/dist/stack/local-stack.js';
import { freePorts } from '@lagscale/kafka';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchBrowser, screenshot } from '../../../test-support/browser.js';
import type {} from '../../../test-support/global-services.js';
import { commitOffsets, createTopic, produce } from '../../../test-support/kafka.js';

async function freePort(): Promise<number> {
  return ((await freePorts(1)) as [number])[0];
}

const RULE_SET_NAME = 'e2e-signups';
/** A small rule set typed into the editor: the shape, an email pattern and an age range. */
const RULE_SET = {
  name: RULE_SET_NAME,
  description: 'Sign-ups from the landing page',
  schema: { type: 'object', required: ['id', 'email'], properties: { id: { type: 'string' }, email: { type: 'string' }, age: { type: 'integer' } } },
  rules: [
    { id: 'email.format', severity: 'error', type: 'pattern', field: '/email', pattern: '[^@\\s]+@[^@\\s]+\\.[a-z]{2,}', message: 'email is not an address' },
    { id: 'age.range', severity: 'warning', type: 'range', field: '/age', min: 13, max: 120 },
  ],
};
const RECORDS = 300;
/** Every 10th record has a broken email (invalid), records 150 and 250 are not JSON (DLQ). */
function signupsFile(): string {
  const lines: string[] = [];
  for (let n = 1; n <= RECORDS; n++) {
    if (n === 150 || n === 250) lines.push(`{"id": "s-${n}", "email": `);
    else lines.push(JSON.stringify({ id: `s-${n}`, email: n % 10 === 0 ? `user${n}-at-example` : `user${n}@example.org`, age: 18 + (n % 60) }));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The console in Debian's chromium against the real stack (Kafka, API, autoscaler, workers): the
 * flows a new user goes through. Each test leaves a screenshot in test-results/browser/.
 */
describe.each(['SQLite', 'OpenSearch'])('console in a browser, results in %s', (kind) => {
  let stack: LocalStack;
  let browser: Browser;
  let page: Page;
  const home = mkdtempSync(join(tmpdir(), 'lagscale-e2e-'));

  beforeAll(async () => {
    // The stack and its workers log every decision; the test output needs only problems.
    process.env.LAGSCALE_LOG_LEVEL = 'warn';
    const config = defaultConfig();
    config.exporter.port = 0;
    config.lag.intervalSeconds = 2;
    // The stack reads its store from the environment, as `LAGSCALE_STORE=opensearch npm start` does.
    const storeEnv = { LAGSCALE_STORE: 'opensearch', OPENSEARCH_URL: inject('openSearchUrl'), OPENSEARCH_INDEX_PREFIX: `e2e-${Date.now().toString(36)}` };
    if (kind === 'OpenSearch') Object.assign(process.env, storeEnv);
    stack = await startLocalStack({
      config,
      home,
      kafkaPort: await freePort(),
      // Demo settings: a worker handles ~80 records/s, so a short burst needs more of them.
      workerRecordCostMs: 10,
      workerBatchSize: 50,
      policy: { name: 'rate', timeLagSloSeconds: 10, serviceRatePerReplica: 80, startupSeconds: 5 },
      behavior: { scaleDown: { stabilizationWindowSeconds: 20 } },
    }).finally(() => {
      for (const name of Object.keys(storeEnv)) delete process.env[name];
    });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    rmSync(home, { recursive: true, force: true });
  }, 120_000);

  it('shows consumer groups and updates them live while records are produced', async () => {
    const brokers = [...stack.brokers];
    await createTopic(brokers, 'e2e-payments', 2);
    await produce(brokers, { topic: 'e2e-payments', perPartition: { 0: 10, 1: 10 } });
    await commitOffsets(brokers, 'e2e-billing', 'e2e-payments', { 0: 10, 1: 10 });
    await page.goto(`${stack.url}/#/`);
    const row = page.getByTestId('group-row-e2e-billing');
    await expect.poll(async () => (await row.getByTestId('lag').textContent())?.trim(), { timeout: 30_000 }).toBe('0');
    // No reload from here on: the page follows the server's event stream.
    await produce(brokers, { topic: 'e2e-payments', perPartition: { 0: 30, 1: 12 } });
    await expect.poll(async () => (await row.getByTestId('lag').textContent())?.trim(), { timeout: 30_000 }).toBe('42');
    await expect.poll(async () => page.getByTestId('group-row-validator').count(), { timeout: 60_000 }).toBe(1);
    await screenshot(page, 'overview-live');
  });

  it('refuses a bad rule set with the pointer of the mistake, then saves the fixed one', async () => {
    await page.goto(`${stack.url}/#/rulesets/new`);
    await page.getByLabel('Rule set name').fill(RULE_SET_NAME);
    const broken = { ...RULE_SET, rules: [{ ...RULE_SET.rules[0], pattern: undefined }, RULE_SET.rules[1]] };
    await page.getByLabel('Rule set document (JSON)').fill(JSON.stringify(broken, null, 2));
    await page.getByRole('button', { name: /save/i }).click();
    const pointer = page.getByTestId('ruleset-error-pointer').first();
    await expect.poll(async () => pointer.textContent()).toBe('/rules/0');
    await screenshot(page, 'ruleset-error');
    await page.getByLabel('Rule set document (JSON)').fill(JSON.stringify(RULE_SET, null, 2));
    await page.getByRole('button', { name: /save/i }).click();
    await expect.poll(async () => (await page.getByTestId('save-result').textContent()) ?? '').toMatch(/version 1/i);
    await screenshot(page, 'ruleset-saved');
    const stored = (await (await fetch(`${stack.url}/api/v1/rulesets/${RULE_SET_NAME}`)).json()) as { version: number };
    expect(stored.version).toBe(1);
  });

  it('uploads a file and follows the job to 100%, then finds an invalid record and opens it', async () => {
    await page.goto(`${stack.url}/#/jobs`);
    await page.getByLabel('Rule set').selectOption(RULE_SET_NAME);
    await page.getByLabel('Records file').setInputFiles({ name: 'signups.ndjson', mimeType: 'application/x-ndjson', buffer: Buffer.from(signupsFile()) });
    await page.getByRole('button', { name: /upload/i }).click();
    const progress = page.getByRole('progressbar', { name: 'Job progress' });
    await expect.poll(async () => progress.getAttribute('aria-valuenow'), { timeout: 90_000 }).toBe('100');
    await screenshot(page, 'upload-complete');

    await page.getByTestId('open-job').click();
    await page.getByTestId('results-filters').getByLabel('Records', { exact: true }).selectOption('invalid');
    await page
      .getByRole('search', { name: 'Filter results' })
      .getByRole('button', { name: /search|apply|filter/i })
      .click();
    await expect.poll(async () => page.getByTestId('result-row-10').count()).toBe(1);
    // Only invalid records are listed.
    await expect.poll(async () => page.getByTestId('open-result').count()).toBeGreaterThan(0);
    await page.getByTestId('result-row-10').getByTestId('open-result').click();
    await expect.poll(async () => (await page.locator('main').textContent()) ?? '').toContain('email is not an address');
    await expect.poll(async () => (await page.locator('main').textContent()) ?? '').toContain('user10-at-example');
    await screenshot(page, 'invalid-record');

    const jobs = (await (await fetch(`${stack.url}/api/v1/jobs`)).json()) as { items: { ruleSet: string; results: number; dlq: number; invalid: number }[] };
    const job = jobs.items.find((j) => j.ruleSet === RULE_SET_NAME);
    // Every 10th record is invalid except 150 and 250, which never parse.
    expect(job).toMatchObject({ results: RECORDS - 2, dlq: 2, invalid: 28 });
  }, 120_000);

  it('fits a phone: no page scrolls sideways at 390 px', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    try {
      for (const [name, path] of [
        ['overview', '#/'],
        ['group', '#/groups/validator'],
        ['autoscaler', '#/autoscaler'],
        ['jobs', '#/jobs'],
        ['rulesets', '#/rulesets'],
        ['dlq', '#/dlq'],
      ] as const) {
        await phone.goto(`${stack.url}/${path}`);
        await phone.locator('main h1').first().waitFor();
        // Wide tables scroll inside their own box; the page itself must not.
        const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect({ page: name, overflow }).toEqual({ page: name, overflow: 0 });
        await screenshot(phone, `phone-${name}`);
      }
    } finally {
      await phone.close();
    }
  });

  it('shows the replica count change during a short demo', async () => {
    await page.goto(`${stack.url}/#/autoscaler`);
    const current = page.getByTestId('current-replicas');
    // The upload test before this one may have scaled the workers out: scaling in goes a step at a
    // time, each after the 20 s scale-down stabilization window.
    await expect.poll(async () => (await current.textContent())?.trim(), { timeout: 90_000, interval: 500 }).toBe('1');
    const ruleSet = await stack.store.getRuleSet('customer-orders');
    expect(ruleSet).toBeDefined();
    const replay = replayDemo({
      plan: await demoPlan(25, 400, '/nonexistent'),
      connection: stack.connection,
      store: stack.store,
      ruleSet: ruleSet as { name: string; version: number },
      record: demoOrder,
    });
    await expect.poll(async () => Number((await current.textContent())?.trim()), { timeout: 60_000, interval: 500 }).toBeGreaterThan(1);
    await screenshot(page, 'demo-scaled-out');
    await replay;
    await page.goto(`${stack.url}/#/`);
    const replicas = page.getByTestId('group-row-validator').getByTestId('replicas');
    await expect.poll(async () => Number((await replicas.textContent())?.trim()), { timeout: 10_000 }).toBeGreaterThan(1);
    await screenshot(page, 'demo-overview');
  }, 240_000);
});
