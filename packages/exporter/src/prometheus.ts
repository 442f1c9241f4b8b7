/** Minimal Prometheus text exposition (format 0.0.4): families, samples, a histogram. */

export type Labels = Readonly<Record<string, string | number>>;
export type MetricType = 'gauge' | 'counter' | 'histogram';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabel(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/**
 * The inside of a sample's braces, escaped: `topic="orders",partition="3"`. Joined, not
 * concatenated: a cached label text stays one flat string, not a tree of pieces.
 */
export function labelText(labels: Labels): string {
  const parts: string[] = [];
  for (const key in labels) {
    const value = labels[key] as string | number;
    parts.push(`${key}="${typeof value === 'number' ? String(value) : escapeLabel(value)}"`);
  }
  return parts.join(',');
}

const CHUNK_BYTES = 256 * 1024;

/**
 * The exposition text, written into buffers as it is built: a scrape of 10,000 partition-group
 * pairs is 100,000 lines (4 MB) that would otherwise live as strings until joined, long enough to
 * be copied by the young-generation collector and promoted to the old one, which then grew by tens
 * of megabytes a scrape. Here each line is garbage the moment it is written.
 */
export class PrometheusText {
  readonly #declared = new Set<string>();
  readonly #chunks: Buffer[] = [];
  #chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  #used = 0;

  #write(text: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    if (this.#used + text.length * 3 > this.#chunk.length) {
      if (this.#used > 0) this.#chunks.push(this.#chunk.subarray(0, this.#used));
      this.#chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, text.length * 3));
      this.#used = 0;
    }
    this.#used += this.#chunk.write(text, this.#used);
  }

  /** Declares a family once; samples of it follow. */
  family(name: string, type: MetricType, help: string): this {
    if (!this.#declared.has(name)) {
      this.#declared.add(name);
      this.#write(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}\n`);
    }
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    return this.sampleWithLabelText(name, labelText(labels), value);
  }

  /** A sample whose label text was built (and escaped) before, with labelText: for series written every scrape. */
  sampleWithLabelText(name: string, text: string, value: number): this {
    this.#write(text === '' ? `${name} ${formatValue(value)}\n` : `${name}{${text}} ${formatValue(value)}\n`);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat([...this.#chunks, this.#chunk.subarray(0, this.#used)]);
  }

  toString(): string {
    return this.toBuffer().toString('utf8');
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
