import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const DIR = fileURLToPath(new URL('../prometheus/', import.meta.url));

/** The alert rules as Prometheus' own tool reads them (Debian's prometheus package ships promtool). */
describe('deploy/prometheus/alerts.yaml', () => {
  it('passes promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', 'alerts.yaml'], { cwd: DIR });
    expect(stdout).toMatch(/SUCCESS: 14 rules found/);
  });

  it('passes its promtool unit tests (each alert fires on the series that should page and not on the others)', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', 'alerts.test.yaml'], { cwd: DIR });
    expect(stdout).toMatch(/SUCCESS/);
  });
});
