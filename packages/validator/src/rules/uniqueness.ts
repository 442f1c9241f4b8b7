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
