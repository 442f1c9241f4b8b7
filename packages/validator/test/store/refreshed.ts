import { randomBytes } from 'node:crypto';
import { OpenSearchResultStore, type OpenSearchResultStoreOptions, type ResultStore } from '@lagscale/validator';

const READS = new Set(['getRuleSet', 'listRuleSets', 'getJob', 'listJobs', 'searchResults', 'getResult', 'jobSummary', 'listDlq', 'getDlq']);

/**
 * A store whose reads see every write that returned before them. OpenSearch makes results,
 * claims and DLQ entries searchable within its refresh interval (1 s); tests written for a store
 * that answers at once refresh before each read, so they check the data, not the interval.
 */
export function refreshedBeforeReads(store: OpenSearchResultStore): ResultStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (typeof property === 'string' && READS.has(property)) {
        return async (...args: unknown[]) => {
          await target.refresh();
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

/** A fresh index prefix, so every test file (or test) has indices of its own on the shared node. */
export function freshPrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** An OpenSearch store under a fresh prefix on the shared test node, refreshed before reads. */
export async function openSearchTestStore(url: string, options: Partial<OpenSearchResultStoreOptions> = {}): Promise<ResultStore> {
  return refreshedBeforeReads(await OpenSearchResultStore.open({ url, indexPrefix: freshPrefix(), ...options }));
}
