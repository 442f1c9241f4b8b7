import fc from 'fast-check';

/**
 * How the property-based tests run: a fixed seed (LAGSCALE_FUZZ_SEED, default below) so a run is
 * repeatable, and a bounded number of runs per property (LAGSCALE_FUZZ_RUNS scales them: 2 doubles
 * every count) so the whole fuzz suite stays under a minute on a busy two-core machine. A failure
 * prints the seed and fast-check's path; run again with LAGSCALE_FUZZ_SEED=<seed> to replay it.
 */
export const FUZZ_SEED = seedFromEnv(process.env.LAGSCALE_FUZZ_SEED);
const RUNS_SCALE = scaleFromEnv(process.env.LAGSCALE_FUZZ_RUNS);

function seedFromEnv(text: string | undefined): number {
  if (text === undefined || text === '') return 20261204;
  const seed = Number(text);
  if (!Number.isSafeInteger(seed)) throw new Error(`LAGSCALE_FUZZ_SEED must be an integer, got ${JSON.stringify(text)}`);
  return seed;
}

function scaleFromEnv(text: string | undefined): number {
  if (text === undefined || text === '') return 1;
  const scale = Number(text);
  if (!(scale > 0 && scale <= 100)) throw new Error(`LAGSCALE_FUZZ_RUNS must be a number in (0, 100], got ${JSON.stringify(text)}`);
  return scale;
}

/** fast-check parameters for one property: the suite's seed and `runs` scaled. */
export function fuzzParameters<T>(runs: number): fc.Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(runs * RUNS_SCALE)) };
}

/** Runs a synchronous property and prints its name, seed, runs and time. */
export function checkProperty<Ts extends [unknown, ...unknown[]]>(name: string, runs: number, property: fc.IProperty<Ts>): void {
  const started = performance.now();
  const parameters = fuzzParameters<Ts>(runs);
  fc.assert(property, parameters);
  report(name, parameters.numRuns ?? runs, started);
}

/** Runs an asynchronous property and prints its name, seed, runs and time. */
export async function checkAsyncProperty<Ts extends [unknown, ...unknown[]]>(name: string, runs: number, property: fc.IAsyncProperty<Ts>): Promise<void> {
  const started = performance.now();
  const parameters = fuzzParameters<Ts>(runs);
  await fc.assert(property, parameters);
  report(name, parameters.numRuns ?? runs, started);
}

function report(name: string, runs: number, started: number): void {
  process.stdout.write(`[fuzz] ${name}: ${runs} runs passed, seed ${FUZZ_SEED}, ${Math.round(performance.now() - started)} ms\n`);
}

/** Cut points (sorted, unique, inside 1..length-1) for feeding `length` bytes in chunks. */
export function cutsArbitrary(length: number): fc.Arbitrary<number[]> {
  if (length < 2) return fc.constant([]);
  return fc
    .oneof(
      fc.array(fc.integer({ min: 1, max: length - 1 }), { maxLength: 12 }),
      // Every byte its own chunk, now and then: the harshest chunking.
      fc.constant(Array.from({ length: length - 1 }, (_, i) => i + 1)),
    )
    .map((cuts) => [...new Set(cuts)].sort((a, b) => a - b));
}

/** The bytes in chunks cut at `cuts`, each a fresh copy (a reader must not rely on chunks staying put). */
export async function* chunksOf(bytes: Uint8Array, cuts: readonly number[]): AsyncGenerator<Buffer> {
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    yield Buffer.from(bytes.subarray(from, cut));
    from = cut;
  }
}
