import { readFileSync } from 'node:fs';

/** The last lines of a log file, for error messages (a child's own words about why it stopped). */
export function logTail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}
