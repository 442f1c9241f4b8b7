import { describe, expect, it } from 'vitest';
import { PartitionLabels } from '../src/label-cache.js';
import { Histogram, labelText, PrometheusText } from '../src/prometheus.js';

describe('PrometheusText', () => {
  it('writes families once, escapes label values and formats special values', () => {
    const out = new PrometheusText();
    out.family('a_total', 'counter', 'Help with a \\ backslash\nand a line.');
    out.family('a_total', 'counter', 'declared again: ignored');
    out.sample('a_total', {}, 3);
    out.sample('a_total', { group: 'say "hi"\\there\n', partition: 7 }, Number.NaN);
    out.sample('a_total', { group: 'x' }, Number.POSITIVE_INFINITY);
    expect(out.toString()).toBe(
      [
        '# HELP a_total Help with a \\\\ backslash\\nand a line.',
        '# TYPE a_total counter',
        'a_total 3',
        'a_total{group="say \\"hi\\"\\\\there\\n",partition="7"} NaN',
        'a_total{group="x"} +Inf',
        '',
      ].join('\n'),
    );
  });

  it('keeps every line whole across its buffers, multi-byte label values included', () => {
    const out = new PrometheusText();
    const expected: string[] = [];
    // About 6 MB: many 256 KB buffers, lines falling on every boundary.
    for (let i = 0; i < 60_000; i++) {
      const group = i % 7 === 0 ? `gruppe-ä-${'ß'.repeat(i % 13)}-${i}` : `group-${i}`;
      out.sample('kafka_consumergroup_lag', { consumergroup: group, topic: 'orders', partition: i % 100 }, i);
      expected.push(`kafka_consumergroup_lag{consumergroup="${group}",topic="orders",partition="${i % 100}"} ${i}`);
    }
    const text = `${expected.join('\n')}\n`;
    expect(out.toBuffer().equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect(out.toString()).toBe(text);
  });

  it('writes a line longer than a buffer', () => {
    const out = new PrometheusText();
    const long = 'v'.repeat(300_000);
    out.sample('x', { a: long }, 1);
    expect(out.toString()).toBe(`x{a="${long}"} 1\n`);
  });

  it('writes a histogram as cumulative buckets with sum and count', () => {
    const histogram = new Histogram([0.1, 1]);
    histogram.observe(0.05);
    histogram.observe(0.5);
    const out = new PrometheusText();
    histogram.write(out, 'd_seconds', 'Duration.');
    expect(out.toString()).toContain(
      'd_seconds_bucket{le="0.1"} 1\nd_seconds_bucket{le="1"} 2\nd_seconds_bucket{le="+Inf"} 2\nd_seconds_sum 0.55\nd_seconds_count 2\n',
    );
  });
});

describe('PartitionLabels', () => {
  it('gives the same text from one scrape to the next and after a pair came back', () => {
    const labels = new PartitionLabels('consumergroup');
    labels.begin();
    const first = labels.text('g', 'orders', 3);
    expect(first).toBe(labelText({ consumergroup: 'g', topic: 'orders', partition: 3 }));
    expect(labels.text('g', 'orders', 3)).toBe(first);
    labels.text('gone', 'orders', 0);

    labels.begin();
    expect(labels.text('g', 'orders', 3)).toBe(first);
    labels.begin();
    labels.begin();
    expect(labels.text('gone', 'orders', 0)).toBe('consumergroup="gone",topic="orders",partition="0"');
  });

  it('labels a topic partition without a group label, and escapes names', () => {
    const labels = new PartitionLabels('');
    labels.begin();
    expect(labels.text('', 'a"b', 1)).toBe('topic="a\\"b",partition="1"');
  });
});
