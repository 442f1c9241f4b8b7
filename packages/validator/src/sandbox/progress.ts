/**
 * Where a validation thread is, in memory both threads see: the phase (compiling a rule set or
 * validating a record), the record's index in the task, and when the phase began. The thread
 * writes it as it goes; the main thread reads it to stop a thread that overruns its budget, and,
 * when a thread dies, to know which record it died on.
 */
export const PHASE = { idle: 0, compile: 1, record: 2 } as const;
export type Phase = (typeof PHASE)[keyof typeof PHASE];

export interface ProgressView {
  readonly phase: Phase;
  readonly index: number;
  /** Epoch milliseconds (with fractions) when the phase began. */
  readonly since: number;
}

const BYTES = 16;

export class Progress {
  readonly #ints: Int32Array;
  readonly #time: Float64Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(BYTES)) {
    this.#ints = new Int32Array(buffer, 0, 2);
    this.#time = new Float64Array(buffer, 8, 1);
  }

  /** The thread's side: the time first, then (atomically) the phase and index that make it current. */
  enter(phase: Phase, index: number): void {
    this.#time[0] = performance.timeOrigin + performance.now();
    Atomics.store(this.#ints, 1, index);
    Atomics.store(this.#ints, 0, phase);
  }

  idle(): void {
    Atomics.store(this.#ints, 0, PHASE.idle);
  }

  read(): ProgressView {
    const phase = Atomics.load(this.#ints, 0) as Phase;
    const index = Atomics.load(this.#ints, 1);
    return { phase, index, since: this.#time[0] as number };
  }
}
