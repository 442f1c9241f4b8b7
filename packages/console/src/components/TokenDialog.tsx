import { type FormEvent, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { authStore } from '../api/token';

/**
 * Asks for an API token when the server answered 401. The token is kept in localStorage and sent
 * as `Authorization: Bearer` from then on.
 */
export function TokenDialog() {
  const auth = useSyncExternalStore(authStore.subscribe, authStore.get);
  const [token, setToken] = useState('');
  const inputRef = useRef<HTMLInputElement>(null);
  const open = auth.required !== null;

  useEffect(() => {
    if (open) inputRef.current?.focus();
  }, [open]);

  if (!open) return null;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    authStore.setToken(token);
    setToken('');
  };
  return (
    <div className="dialog-backdrop">
      <div
        className="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="token-dialog-title"
        aria-describedby="token-dialog-text"
        onKeyDown={(event) => {
          if (event.key === 'Escape') authStore.dismiss();
        }}
      >
        <h2 id="token-dialog-title">API token needed</h2>
        <p id="token-dialog-text">
          The server asks for a token: <em>{auth.required}</em>. Tokens come from <code>api.tokens</code> in the config file or <code>LAGSCALE_API_TOKENS</code>{' '}
          (the secret part of <code>name:scope:secret</code>).
          {auth.token ? ' The saved token was refused.' : ''}
        </p>
        <form onSubmit={submit}>
          <label htmlFor="api-token">API token</label>
          <input id="api-token" ref={inputRef} type="password" autoComplete="off" value={token} onChange={(event) => setToken(event.target.value)} required />
          <div className="actions">
            <button type="submit" className="primary">
              Save token
            </button>
            <button type="button" onClick={() => authStore.dismiss()}>
              Cancel
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
