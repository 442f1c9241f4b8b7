import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { authStore } from '../api/token';

export interface Resource<T> {
  readonly data: T | undefined;
  readonly error: Error | null;
  readonly loading: boolean;
  /** Loads again (keeps showing the current data meanwhile). */
  readonly reload: () => void;
}

/**
 * Loads something from the API when `key` changes (and after a new token is saved), cancelling the
 * previous request. A change of `refresh` loads again but keeps showing the current data (a live
 * page following new collections); a change of `key` is another thing, so its data is dropped.
 * The loader is read through a ref so callers can pass an inline function.
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, key: string, refresh: string | number = 0): Resource<T> {
  const loadRef = useRef(load);
  loadRef.current = load;
  const revision = useSyncExternalStore(authStore.subscribe, () => authStore.get().revision);
  const [nonce, setNonce] = useState(0);
  const [state, setState] = useState<{ data: T | undefined; error: Error | null; loading: boolean; key: string }>({
    data: undefined,
    error: null,
    loading: true,
    key,
  });

  useEffect(() => {
    const controller = new AbortController();
    // `nonce`, `revision` and `refresh` only trigger the reload; the loader does not read them.
    void nonce;
    void revision;
    void refresh;
    setState((previous) => ({ data: previous.key === key ? previous.data : undefined, error: null, loading: true, key }));
    loadRef.current(controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, error: null, loading: false, key });
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        setState((previous) => ({ ...previous, error: error instanceof Error ? error : new Error(String(error)), loading: false }));
      },
    );
    return () => controller.abort();
  }, [key, nonce, revision, refresh]);

  const reload = useCallback(() => setNonce((value) => value + 1), []);
  return { data: state.key === key ? state.data : undefined, error: state.error, loading: state.loading, reload };
}
