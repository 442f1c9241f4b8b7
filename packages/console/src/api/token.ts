/**
 * The API token and whether the server has asked for one. A tiny external store (read with
 * `useSyncExternalStore`) so any request that meets a 401 can open the token dialog, and every
 * loader can re-run once a token is saved.
 */

const STORAGE_KEY = 'lagscale.apiToken';

export interface AuthState {
  readonly token: string | null;
  /** Set when the server answered 401: the message to show in the token dialog. */
  readonly required: string | null;
  /** Bumped whenever the token changes, so loaders can depend on it. */
  readonly revision: number;
}

type Listener = () => void;

const listeners = new Set<Listener>();
let state: AuthState = { token: readStoredToken(), required: null, revision: 0 };

function readStoredToken(): string | null {
  try {
    return globalThis.localStorage?.getItem(STORAGE_KEY) || null;
  } catch {
    // Storage can be disabled (private mode, policies); the console then asks on every load.
    return null;
  }
}

function publish(next: AuthState): void {
  state = next;
  for (const listener of listeners) listener();
}

export const authStore = {
  get: (): AuthState => state,
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  /** Called by the client on a 401; keeps the first message until a token is saved. */
  requireToken(message: string): void {
    if (state.required !== null) return;
    publish({ ...state, required: message });
  },
  setToken(token: string | null): void {
    const trimmed = token?.trim() || null;
    try {
      if (trimmed) globalThis.localStorage?.setItem(STORAGE_KEY, trimmed);
      else globalThis.localStorage?.removeItem(STORAGE_KEY);
    } catch {
      // Not stored: the token still works for this page's lifetime.
    }
    publish({ token: trimmed, required: null, revision: state.revision + 1 });
  },
  dismiss(): void {
    publish({ ...state, required: null });
  },
  /** Tests start from a clean slate. */
  reset(): void {
    publish({ token: readStoredToken(), required: null, revision: 0 });
  },
};

export function authHeaders(): Record<string, string> {
  return state.token ? { authorization: `Bearer ${state.token}` } : {};
}
