import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseUpload, type UploadFormat, type UploadRecord } from '@lagscale/validator';
import { describe, expect, it } from 'vitest';

// A collectable heap, measured after a collection, shows what the parser holds, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

interface MemoryWatch {
  readonly baseline: number;
  peak: number;
}

function memoryInUse(): number {
  // Twice: the first collection leaves freed buffers' memory to a sweeper that the second waits for.
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * An upload made on the fly: `head`, then `size` bytes of `fill` in fresh 64 KiB chunks (sampling
 * memory every 4 MiB), then `tail`. Nothing keeps the chunks but the parser.
 */
async function* hugeUpload(head: string, size: number, fill: number, tail: string, watch: MemoryWatch): AsyncGenerator<Buffer> {
  yield Buffer.from(head);
  for (let sent = 0; sent < size; sent += CHUNK) {
    yield Buffer.alloc(Math.min(CHUNK, size - sent), fill);
    if ((sent / CHUNK) % 64 === 63) watch.peak = Math.max(watch.peak, memoryInUse());
  }
  yield Buffer.from(tail);
}

const cases: [UploadFormat, string, number, string, string][] = [
  ['ndjson', '{"n":1}\n{"big":"', 0x78, '"}\r\n{"n":2}\n', 'one 50 MB line'],
  ['csv', 'n,text\n1,ok\n2,"', 0x0a, '"\n3,ok\n', 'one 50 MB record of line breaks inside quotes'],
  ['json-array', '[{"n":1},\n{"big":"', 0x78, '"},\n{"n":2}]', 'one 50 MB element'],
];

describe('uploads larger than memory allows', () => {
  for (const [format, head, fill, tail, what] of cases) {
    it(`${format}: skips ${what} without holding it (heap + buffers grow < 10 MB)`, async () => {
      const size = 50 * MiB;
      const watch: MemoryWatch = { baseline: memoryInUse(), peak: 0 };
      const records: UploadRecord[] = [];
      const started = performance.now();
      for await (const record of parseUpload(hugeUpload(head, size, fill, tail, watch), format)) records.push(record);
      const seconds = (performance.now() - started) / 1000;
      const growth = watch.peak - watch.baseline;
      console.log(
        `${format}: ${what} read in ${seconds.toFixed(2)} s (${(size / MiB / seconds).toFixed(0)} MB/s), memory grew by at most ${(growth / MiB).toFixed(2)} MB`,
      );
      expect(growth).toBeLessThan(10 * MiB);
      expect(records.map((r) => (r.ok ? 'ok' : r.code))).toEqual(['ok', 'too_large', 'ok']);
      const large = records[1];
      expect(large?.ok === false && large.bytes).toBeGreaterThan(size);
      expect(large?.ok === false && large.raw.length).toBe(1024);
    }, 120_000);
  }
  it('the measure sees an upload that is held: the same line under a 64 MiB limit grows memory by > 40 MB', async () => {
    const size = 50 * MiB;
    const watch: MemoryWatch = { baseline: memoryInUse(), peak: 0 };
    const kinds: string[] = [];
    for await (const record of parseUpload(hugeUpload('{"n":1}\n{"big":"', size, 0x78, '"}\n', watch), 'ndjson', { maxRecordBytes: 64 * MiB }))
      kinds.push(record.ok ? 'ok' : record.code);
    expect(kinds).toEqual(['ok', 'ok']);
    expect(watch.peak - watch.baseline).toBeGreaterThan(40 * MiB);
  }, 120_000);
});

describe('throughput', () => {
  it('streams 100,000 NDJSON records, printing records/s against JSON.parse of each line', async () => {
    const count = 100_000;
    const lines: string[] = [];
    for (let i = 1; i <= count; i++) {
      lines.push(
        JSON.stringify({
          order_id: `ORD-2024-${String(i).padStart(6, '0')}`,
          created_at: '2024-05-01T10:15:00Z',
          status: 'paid',
          customer: { id: `C-${i % 977}`, email: `c${i}@example.com`, country: 'PT' },
          currency: 'EUR',
          items: [{ sku: 'SKU-00042', quantity: 1 + (i % 3), unit_price: 19.9 }],
          total: 19.9 * (1 + (i % 3)),
        }),
      );
    }
    const upload = Buffer.from(`${lines.join('\n')}\n`);
    const chunks: Buffer[] = [];
    for (let at = 0; at < upload.length; at += CHUNK) chunks.push(upload.subarray(at, at + CHUNK));

    // Baseline: the least any reader must do, split the lines and JSON.parse each one.
    let started = performance.now();
    let parsed = 0;
    for (const line of upload.toString('utf8').split('\n')) if (line !== '') parsed += JSON.parse(line) === null ? 0 : 1;
    const baseline = performance.now() - started;

    started = performance.now();
    let ok = 0;
    for await (const record of parseUpload(chunks, 'ndjson')) if (record.ok) ok++;
    const streamed = performance.now() - started;

    const perSecond = (ms: number) => Math.round(count / (ms / 1000)).toLocaleString('en');
    console.log(
      `NDJSON, ${count.toLocaleString('en')} records (${(upload.length / MiB).toFixed(1)} MB): parseNdjson ${perSecond(streamed)} records/s ` +
        `(${(upload.length / MiB / (streamed / 1000)).toFixed(0)} MB/s); split + JSON.parse ${perSecond(baseline)} records/s; ratio ${(baseline / streamed).toFixed(2)}`,
    );
    expect(parsed).toBe(count);
    expect(ok).toBe(count);
  }, 60_000);

  it('streams the same records as CSV and as a JSON array, printing records/s', async () => {
    const count = 100_000;
    const csv = ['order_id,status,email,total'];
    const array: string[] = [];
    for (let i = 1; i <= count; i++) {
      csv.push(`ORD-2024-${String(i).padStart(6, '0')},paid,"c${i}@example.com",${(19.9 * (1 + (i % 3))).toFixed(2)}`);
      array.push(JSON.stringify({ order_id: `ORD-2024-${String(i).padStart(6, '0')}`, status: 'paid', email: `c${i}@example.com`, total: 19.9 }));
    }
    for (const [format, text] of [
      ['csv', `${csv.join('\r\n')}\r\n`],
      ['json-array', `[\n${array.join(',\n')}\n]\n`],
    ] as const) {
      const upload = Buffer.from(text);
      const chunks: Buffer[] = [];
      for (let at = 0; at < upload.length; at += CHUNK) chunks.push(upload.subarray(at, at + CHUNK));
      const started = performance.now();
      let ok = 0;
      for await (const record of parseUpload(chunks, format, { inferTypes: true })) if (record.ok) ok++;
      const ms = performance.now() - started;
      console.log(
        `${format}, ${count.toLocaleString('en')} records (${(upload.length / MiB).toFixed(1)} MB): ${Math.round(count / (ms / 1000)).toLocaleString('en')} records/s`,
      );
      expect(ok).toBe(count);
    }
  }, 60_000);
});
