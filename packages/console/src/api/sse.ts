import { API_BASE, errorFromResponse } from './client';
import { authHeaders, authStore } from './token';

export interface ServerEvent {
  /** `message` when the server named none. */
  readonly event: string;
  readonly data: string;
  readonly id: string | null;
}

/**
 * Incremental parser of a `text/event-stream` body (the WHATWG rules: fields per line, an empty
 * line dispatches, `data` lines join with newlines, lines starting with `:` are comments).
 * Pure, so the framing can be tested without a server.
 */
export class EventStreamParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #id: string | null = null;
  /** Milliseconds the server asked to wait before reconnecting, when it sent `retry:`. */
  retryMs: number | null = null;

  /** Feeds a chunk of text; returns the events it completed. */
  push(chunk: string): ServerEvent[] {
    this.#buffer += chunk;
    const events: ServerEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (!match) break;
      // A lone trailing \r may be the first half of \r\n: wait for more.
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const event = this.#line(line);
      if (event) events.push(event);
    }
    return events;
  }

  #line(line: string): ServerEvent | null {
    if (line === '') {
      if (this.#data.length === 0) {
        this.#event = '';
        return null;
      }
      const event = { event: this.#event || 'message', data: this.#data.join('\n'), id: this.#id };
      this.#event = '';
      this.#data = [];
      return event;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
    else if (field === 'id') this.#id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    return null;
  }
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'unauthorized';

export interface EventStreamHandlers {
  readonly onEvent: (event: ServerEvent) => void;
  readonly onState: (state: ConnectionState, detail?: string) => void;
}

/** Opens the live stream; returns a function that closes it for good. */
export type EventStreamConnector = (handlers: EventStreamHandlers) => () => void;

/** Delay before the n-th reconnect attempt (0-based): 1 s, 2 s, 4 s ... at most 15 s. */
export function reconnectDelayMs(attempt: number, serverRetryMs: number | null): number {
  if (serverRetryMs !== null && attempt === 0) return serverRetryMs;
  return Math.min(15_000, 1000 * 2 ** Math.min(attempt, 4));
}

/**
 * `GET /api/v1/events` read with fetch instead of EventSource: EventSource cannot send the
 * Authorization header, and the API may require a token. Reconnects with backoff when the stream
 * ends or fails, and waits for a new token after a 401.
 */
export const connectEventStream: EventStreamConnector = (handlers) => {
  let closed = false;
  let controller: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let attempt = 0;
  let unsubscribeAuth: (() => void) | null = null;
  // A fresh parser per connection: a half-received event of a broken stream must not leak into the next.
  let parser = new EventStreamParser();
  let serverRetryMs: number | null = null;

  const schedule = () => {
    if (closed) return;
    handlers.onState('reconnecting');
    serverRetryMs = parser.retryMs ?? serverRetryMs;
    timer = setTimeout(open, reconnectDelayMs(attempt, serverRetryMs));
    attempt += 1;
  };

  async function open(): Promise<void> {
    if (closed) return;
    controller = new AbortController();
    parser = new EventStreamParser();
    handlers.onState(attempt === 0 ? 'connecting' : 'reconnecting');
    try {
      const response = await fetch(`${API_BASE}/events`, { headers: { accept: 'text/event-stream', ...authHeaders() }, signal: controller.signal });
      if (response.status === 401) {
        const error = errorFromResponse(response.status, response.statusText, await response.text());
        authStore.requireToken(error.message);
        handlers.onState('unauthorized', error.message);
        // Try again once a token has been saved.
        const revision = authStore.get().revision;
        unsubscribeAuth = authStore.subscribe(() => {
          if (authStore.get().revision === revision) return;
          unsubscribeAuth?.();
          unsubscribeAuth = null;
          attempt = 0;
          void open();
        });
        return;
      }
      if (!response.ok || !response.body) throw new Error(`the event stream answered ${response.status}`);
      handlers.onState('open');
      attempt = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.push(value)) handlers.onEvent(event);
      }
    } catch (error) {
      if (closed) return;
      handlers.onState('reconnecting', error instanceof Error ? error.message : String(error));
    }
    schedule();
  }

  void open();
  return () => {
    closed = true;
    if (timer) clearTimeout(timer);
    unsubscribeAuth?.();
    controller?.abort();
  };
};
