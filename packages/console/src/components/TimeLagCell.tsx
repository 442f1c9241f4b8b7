import { formatSeconds } from '../lib/format';

/** A time lag, marked `est.` when it was interpolated from the offset/time table rather than read from the record. */
export function TimeLagCell({ seconds, mode }: { readonly seconds: number | null; readonly mode: 'estimate' | 'exact' | null }) {
  return (
    <>
      {formatSeconds(seconds)}
      {mode === 'estimate' ? (
        <span className="muted" title="interpolated from the offset/time table">
          {' '}
          est.
        </span>
      ) : null}
    </>
  );
}
