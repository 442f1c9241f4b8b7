/**
 * Writes deploy/grafana/lagscale.json from dashboard.ts: `npx tsx deploy/grafana/render.ts`.
 * The deploy tests fail when the committed JSON differs from what this renders.
 */
import { writeFileSync } from 'node:fs';
import { dashboard } from './dashboard.js';

export function renderDashboard(): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = new URL('./lagscale.json', import.meta.url);
  writeFileSync(file, renderDashboard());
  process.stderr.write(`wrote ${file.pathname}\n`);
}
