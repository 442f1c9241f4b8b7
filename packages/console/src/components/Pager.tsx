import { useCallback, useState } from 'react';

/** Cursor pagination as a stack of cursors, so "Previous" goes back without the server's help. */
export interface CursorPages {
  /** The cursor of the page shown; null for the first. */
  readonly cursor: string | null;
  /** 1-based. */
  readonly page: number;
  previous(): void;
  next(cursor: string): void;
  /** Back to the first page (filters changed). */
  reset(): void;
}

export function useCursorPages(): CursorPages {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const previous = useCallback(() => setCursors((stack) => (stack.length > 1 ? stack.slice(0, -1) : stack)), []);
  const next = useCallback((cursor: string) => setCursors((stack) => [...stack, cursor]), []);
  const reset = useCallback(() => setCursors([null]), []);
  return { cursor: cursors[cursors.length - 1] ?? null, page: cursors.length, previous, next, reset };
}

interface PagerProps {
  /** The navigation's accessible name, e.g. "Job pages". */
  readonly label: string;
  readonly pages: CursorPages;
  /** The server's cursor of the page after this one; null or undefined when this is the last. */
  readonly nextCursor: string | null | undefined;
  readonly showPageNumber?: boolean;
}

export function Pager({ label, pages, nextCursor, showPageNumber = false }: PagerProps) {
  return (
    <nav className="pager" aria-label={label}>
      {showPageNumber ? <span className="muted">Page {pages.page}</span> : null}
      <button type="button" onClick={pages.previous} disabled={pages.page <= 1}>
        Previous page
      </button>
      <button
        type="button"
        onClick={() => {
          if (nextCursor) pages.next(nextCursor);
        }}
        disabled={!nextCursor}
      >
        Next page
      </button>
    </nav>
  );
}
