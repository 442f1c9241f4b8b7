import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Panel, RowPanel } from '@grafana/schema';
import { describe, expect, it } from 'vitest';
import { dashboard, dashboardQueries } from '../grafana/dashboard.js';
import { renderDashboard } from '../grafana/render.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('deploy/grafana/lagscale.json', () => {
  it("is written from dashboard.ts, which type-checks against Grafana's dashboard schema (@grafana/schema)", async () => {
    // tsc exits non-zero on any type error; its report is on stdout.
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'deploy/tsconfig.json'], { cwd: ROOT }).catch(
      (error: Error & { stdout?: string }) => {
        throw new Error(`deploy/grafana/dashboard.ts does not type-check:\n${error.stdout ?? error.message}`);
      },
    );
    const committed = readFileSync(new URL('../grafana/lagscale.json', import.meta.url), 'utf8');
    expect(committed, 'run `npx tsx deploy/grafana/render.ts` after changing dashboard.ts').toBe(renderDashboard());
  }, 60_000);

  it('lays panels out on the 24-column grid without overlaps, each with a Prometheus query and a unique id', () => {
    const panels = (dashboard.panels ?? []) as (Panel | RowPanel)[];
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      const { x = 0, y = 0, w = 0, h = 0 } = p.gridPos ?? {};
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${p.title} overlaps another panel at ${i},${j}`).toBe(false);
          cells.add(`${i},${j}`);
        }
      }
      if (p.type === 'row') continue;
      const panel = p as Panel;
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(String(target.expr), panel.title).toMatch(/\b(lagscale|kafka)_[a-z_]+/);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    // Every part the issue names has a panel: lag, time lag, status, rates, replicas, validator throughput, violations, DLQ.
    const exprs = dashboardQueries()
      .map((q) => q.expr)
      .join('\n');
    for (const metric of [
      'kafka_consumergroup_lag',
      'lagscale_consumergroup_time_lag_seconds',
      'lagscale_consumergroup_max_time_lag_seconds',
      'lagscale_consumergroup_status',
      'lagscale_consumergroup_produced_records_per_second',
      'lagscale_consumergroup_consumed_records_per_second',
      'lagscale_autoscaler_desired_replicas',
      'lagscale_autoscaler_current_replicas',
      'lagscale_autoscaler_scale_events_total',
      'lagscale_validator_records_total',
      'lagscale_validator_violations_total',
      'lagscale_validator_dlq_records_total',
    ]) {
      expect(exprs).toContain(metric);
    }
  });
});
