import { destination, type Logger, pino, stdTimeFunctions } from 'pino';

/** Structured JSON logs, one line per event, on stderr so stdout stays for command output. */
export function createLogger(name: string, level = process.env.LAGSCALE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { service: name }, timestamp: stdTimeFunctions.isoTime }, destination(2));
}

export type { Logger };
