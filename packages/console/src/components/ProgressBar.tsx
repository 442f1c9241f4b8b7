interface ProgressBarProps {
  /** The accessible name, e.g. "Job progress". */
  readonly label: string;
  /** 0..100; null when unknown (the bar is then indeterminate). */
  readonly percent: number | null;
  /** What a screen reader says instead of the bare number, e.g. "420 of 1,000 records". */
  readonly valueText?: string;
  readonly testId?: string;
  readonly tone?: 'normal' | 'done' | 'failed';
}

/** A progress bar with the ARIA progressbar role, so tests and assistive tech read the same number. */
export function ProgressBar({ label, percent, valueText, testId, tone = 'normal' }: ProgressBarProps) {
  const known = percent !== null;
  return (
    <div className="progress">
      <div className="progress-label">
        <span>{label}</span>
        <span className="progress-value">{known ? `${percent}%` : 'waiting…'}</span>
      </div>
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={known ? percent : undefined}
        aria-valuetext={valueText ?? (known ? `${percent}%` : undefined)}
        data-testid={testId}
        className={`progress-track progress-${tone}${known ? '' : ' progress-indeterminate'}`}
      >
        <div className="progress-fill" style={{ width: known ? `${percent}%` : '30%' }} />
      </div>
      {valueText ? <div className="progress-text">{valueText}</div> : null}
    </div>
  );
}
