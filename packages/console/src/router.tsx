import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from 'react';

/**
 * A small hash router: `#/groups/orders`. Hash URLs work whatever serves the built files (the API
 * server, `vite preview`, a file share) without a fallback route for deep links.
 */

function subscribe(listener: () => void): () => void {
  window.addEventListener('hashchange', listener);
  return () => window.removeEventListener('hashchange', listener);
}

function currentHash(): string {
  return window.location.hash;
}

/** `#/jobs/1?x=2` → `{ path: '/jobs/1', search: 'x=2' }`. */
export function parseHash(hash: string): { readonly path: string; readonly search: string } {
  const raw = hash.replace(/^#/, '') || '/';
  const question = raw.indexOf('?');
  const path = question === -1 ? raw : raw.slice(0, question);
  return { path: path.startsWith('/') ? path : `/${path}`, search: question === -1 ? '' : raw.slice(question + 1) };
}

export function useLocation(): { readonly path: string; readonly search: string } {
  const hash = useSyncExternalStore(subscribe, currentHash, () => '');
  return parseHash(hash);
}

export function navigate(to: string): void {
  window.location.hash = to;
}

/** Params of `pattern` (`/groups/:group`) in `path`, decoded; null when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const patternParts = pattern.split('/').filter(Boolean);
  const pathParts = path.split('/').filter(Boolean);
  if (patternParts.length !== pathParts.length) return null;
  const params: Record<string, string> = {};
  for (let index = 0; index < patternParts.length; index += 1) {
    const expected = patternParts[index] ?? '';
    const actual = pathParts[index] ?? '';
    if (expected.startsWith(':')) {
      try {
        params[expected.slice(1)] = decodeURIComponent(actual);
      } catch {
        return null;
      }
    } else if (expected !== actual) {
      return null;
    }
  }
  return params;
}

/** A path built from segments, each encoded: `pathOf('groups', 'a/b')` → `/groups/a%2Fb`. */
export function pathOf(...segments: readonly (string | number)[]): string {
  return `/${segments.map((segment) => encodeURIComponent(String(segment))).join('/')}`;
}

interface LinkProps extends Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> {
  readonly to: string;
  /** Marks the link `aria-current="page"` when the location is `to` or below it. */
  readonly nav?: boolean;
}

export function Link({ to, nav = false, onClick, ...rest }: LinkProps) {
  const { path } = useLocation();
  const active = nav && (to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`));
  const handleClick = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
  };
  return <a href={`#${to}`} aria-current={active ? 'page' : undefined} onClick={handleClick} {...rest} />;
}
