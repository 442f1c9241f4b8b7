/** Minimal Prometheus text exposition (format 0.0.4): families, samples, a histogram. */

export type Labels = Readonly<Record<string, string | number>>;
export type MetricType = 'gauge' | 'counter' | 'histogram';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

export class PrometheusText {
  readonly #lines: string[] = [];
  readonly #declared = new Set<string>();

  /** Declares a family once; samples of it follow. */
  family(name: string, type: MetricType, help: string): this {
    if (!this.#declared.has(name)) {
      this.#declared.add(name);
      this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    }
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    const entries = Object.entries(labels);
    const labelText = entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(',')}}`;
    this.#lines.push(`${name}${labelText} ${formatValue(value)}`);
    return this;
  }

  toString(): string {
    return `${this.#lines.join('\n')}\n`;
  }
}

/** A cumulative histogram with fixed buckets, as Prometheus clients keep them. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
    this.#counts = this.#bounds.map(() => 0);
  }

  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    for (let i = 0; i < this.#bounds.length; i++) {
      if (value <= (this.#bounds[i] as number)) this.#counts[i] = (this.#counts[i] as number) + 1;
    }
  }

  write(out: PrometheusText, name: string, help: string, labels: Labels = {}): void {
    out.family(name, 'histogram', help);
    for (let i = 0; i < this.#bounds.length; i++) out.sample(`${name}_bucket`, { ...labels, le: this.#bounds[i] as number }, this.#counts[i] as number);
    out.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, this.#count);
    out.sample(`${name}_sum`, labels, this.#sum);
    out.sample(`${name}_count`, labels, this.#count);
  }
}
