import type { UploadRecord } from '@lagscale/validator';

export type Parser = (source: AsyncIterable<Uint8Array>) => AsyncIterable<UploadRecord>;

export async function* chunked(bytes: Uint8Array, cuts: readonly number[]): AsyncGenerator<Buffer> {
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    // Fresh copies: a parser must not rely on chunks staying put.
    yield Buffer.from(bytes.subarray(from, cut));
    from = cut;
  }
}

export function bytesOf(input: string | readonly number[]): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input);
}

export async function collect(records: AsyncIterable<UploadRecord>): Promise<UploadRecord[]> {
  const all: UploadRecord[] = [];
  for await (const record of records) all.push(record);
  return all;
}

/** What a parse gives: the records, and the error that ended it (if any), as comparable data. */
export async function outcome(parse: Parser, bytes: Uint8Array, cuts: readonly number[] = []): Promise<{ records: UploadRecord[]; error?: string }> {
  const records: UploadRecord[] = [];
  try {
    for await (const record of parse(chunked(bytes, cuts))) records.push(record);
  } catch (error) {
    return { records, error: error instanceof Error ? `${error.name} ${(error as { code?: string }).code ?? ''}: ${error.message}` : String(error) };
  }
  return { records };
}

/**
 * Every way to cut the input that matters for chunk boundaries: 1-byte chunks, and one cut at
 * every position (two cuts at every pair of positions when the input is short).
 */
export function cutsOf(length: number): number[][] {
  const all: number[][] = [Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1)];
  for (let i = 1; i < length; i++) all.push([i]);
  if (length <= 64) for (let i = 1; i < length; i++) for (let j = i + 1; j < length; j++) all.push([i, j]);
  return all;
}

/** Parses whole, then under every cut, and checks each gives the same as whole; returns that. */
export async function sameUnderEveryCut(parse: Parser, bytes: Uint8Array): Promise<{ records: UploadRecord[]; error?: string }> {
  const whole = await outcome(parse, bytes);
  for (const cuts of cutsOf(bytes.length)) {
    const cut = await outcome(parse, bytes, cuts);
    if (JSON.stringify(simplify(cut)) !== JSON.stringify(simplify(whole)))
      throw new Error(`cut at [${cuts.join(', ')}] gives\n${JSON.stringify(simplify(cut))}\ninstead of\n${JSON.stringify(simplify(whole))}`);
  }
  return whole;
}

function simplify(result: { records: UploadRecord[]; error?: string }): unknown {
  return { ...result, records: result.records.map((r) => (r.ok ? r : { ...r, raw: r.raw.toString('hex') })) };
}

/** A record's value, or its failure as "code: reason". */
export function show(record: UploadRecord): unknown {
  return record.ok ? record.value : `${record.code}: ${record.reason}`;
}
