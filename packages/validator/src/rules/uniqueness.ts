import { exactJson, holdsRoundedNumber, roundedNumberText } from './decode.js';
import { pointerFromKeys, resolvePointer } from './json-pointer.js';

/**
 * Remembers the values `unique` rules have seen within one job. The worker backs it with its
 * store (so uniqueness holds across worker processes); tests and dry runs use the in-memory one.
 *
 * `recordNumber` makes redelivery harmless: under at-least-once delivery the same record can be
 * validated twice, and the second time its own value must not count as a duplicate.
 */
export interface UniquenessTracker {
  /** Claims `key` for `recordNumber` under `ruleId`; true when another record of the job holds it already. */
  seen(ruleId: string, key: string, recordNumber: number): boolean;
  /**
   * Optional: makes many claims in one go, in order, and answers each as `seen` would. A store
   * backing does them in one write instead of one per claim (see `ClaimRecorder`).
   */
  seenAll?(claims: readonly UniqueClaim[]): boolean[];
}

export interface UniqueClaim {
  readonly ruleId: string;
  readonly key: string;
  readonly recordNumber: number;
}

export class InMemoryUniquenessTracker implements UniquenessTracker {
  readonly #owners = new Map<string, Map<string, number>>();

  seen(ruleId: string, key: string, recordNumber: number): boolean {
    let owners = this.#owners.get(ruleId);
    if (owners === undefined) {
      owners = new Map();
      this.#owners.set(ruleId, owners);
    }
    const owner = owners.get(key);
    if (owner === undefined) {
      owners.set(key, recordNumber);
      return false;
    }
    return owner !== recordNumber;
  }

  /** Number of distinct values remembered, over all rules. */
  get size(): number {
    let total = 0;
    for (const owners of this.#owners.values()) total += owners.size;
    return total;
  }
}

/**
 * Validation of a batch with one write for all its claims: validate the records against a
 * recorder, which answers from the batch's own claims only and keeps them with its answers; then
 * make the claims for real with the shared tracker's `seenAll`. A record given an answer that
 * differs from the real one (a key claimed by an earlier batch or by another worker meanwhile)
 * is validated again against the shared tracker, whose claims are made by then, so it answers
 * exactly as `seenAll` did. The result is the one claim-by-claim validation would give.
 */
export class ClaimRecorder implements UniquenessTracker {
  readonly claims: UniqueClaim[] = [];
  readonly answers: boolean[] = [];
  readonly #batch = new InMemoryUniquenessTracker();

  seen(ruleId: string, key: string, recordNumber: number): boolean {
    const answer = this.#batch.seen(ruleId, key, recordNumber);
    this.claims.push({ ruleId, key, recordNumber });
    this.answers.push(answer);
    return answer;
  }
}

/**
 * The store's answers to a batch's claims, as a tracker: validating a record again (when the
 * store answered otherwise than the batch alone did) makes the same claims, and each is answered
 * as the store answered it. A claim the store was not asked about is a bug, not a guess.
 */
export class AnsweredClaims implements UniquenessTracker {
  readonly #answers = new Map<string, boolean>();

  constructor(claims: readonly UniqueClaim[], answers: readonly boolean[]) {
    claims.forEach((claim, i) => {
      this.#answers.set(answeredKey(claim.ruleId, claim.key, claim.recordNumber), answers[i] === true);
    });
  }

  seen(ruleId: string, key: string, recordNumber: number): boolean {
    const answer = this.#answers.get(answeredKey(ruleId, key, recordNumber));
    if (answer === undefined)
      throw new Error(`unique rule "${ruleId}": record ${recordNumber} made a claim on its second validation that it did not make on its first`);
    return answer;
  }
}

function answeredKey(ruleId: string, key: string, recordNumber: number): string {
  return `${ruleId}\u0000${recordNumber}\u0000${key}`;
}

/**
 * The key a unique rule claims for `value`, found at `path` (a JSON pointer) in `record`: the
 * `JSON.stringify` of the value that keys have always been (claims already stored stay valid),
 * except that a number whose literal JSON.parse rounded (see `exactJson`) is keyed by its exact
 * canonical text, alone or inside an object or array. So 9007199254740993 and 9007199254740992
 * are two values, and 1e3, 1000 and 1000.0 one. A record without such a number costs one lookup.
 */
export function uniqueKey(record: unknown, path: string, value: unknown): string {
  if (!holdsRoundedNumber(record)) return JSON.stringify(value);
  if (typeof value !== 'number') return exactJson(value);
  const keys = path
    .slice(1)
    .split('/')
    .map((key) => key.replaceAll('~1', '/').replaceAll('~0', '~'));
  const holder = resolvePointer(record, pointerFromKeys(keys.slice(0, -1)));
  const exact = typeof holder === 'object' && holder !== null ? roundedNumberText(holder, keys[keys.length - 1] as string) : undefined;
  return exact ?? JSON.stringify(value);
}
