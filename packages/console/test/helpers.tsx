import { vi } from 'vitest';
import type { EventStreamConnector, EventStreamHandlers } from '../src/api/sse';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query, e.g. `/api/v1/jobs/j1/results?limit=50`. */
  readonly url: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Headers;
  readonly body: unknown;
}

export interface MockAnswer {
  readonly status?: number;
  readonly body?: unknown;
}

type Handler = (request: RecordedRequest) => MockAnswer | Promise<MockAnswer>;

/**
 * Replaces fetch with a router over `METHOD /path` (the query is ignored for matching; handlers
 * read it from `request.query`). Unknown routes answer 404 in the server's error shape.
 */
export function mockApi(routes: Record<string, Handler | MockAnswer>) {
  const requests: RecordedRequest[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://console.test');
    const method = (init.method ?? 'GET').toUpperCase();
    let body: unknown;
    if (typeof init.body === 'string') body = JSON.parse(init.body);
    const request: RecordedRequest = {
      method,
      url: `${url.pathname}${url.search}`,
      path: url.pathname,
      query: url.searchParams,
      headers: new Headers(init.headers),
      body,
    };
    requests.push(request);
    const route = routes[`${method} ${url.pathname}`];
    const answer: MockAnswer =
      route === undefined
        ? { status: 404, body: { error: 'not_found', message: `no mock for ${method} ${url.pathname}` } }
        : typeof route === 'function'
          ? await route(request)
          : route;
    return new Response(answer.body === undefined ? '' : JSON.stringify(answer.body), {
      status: answer.status ?? 200,
      headers: { 'content-type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    requests,
    /** Requests to one path (without query), in order. */
    to: (method: string, path: string) => requests.filter((request) => request.method === method && request.path === path),
  };
}

/** An event stream the test drives by hand. */
export function fakeEventStream() {
  let handlers: EventStreamHandlers | null = null;
  const connect: EventStreamConnector = (given) => {
    handlers = given;
    given.onState('open');
    return () => {
      handlers = null;
    };
  };
  return {
    connect,
    emit(event: string, data: unknown) {
      if (!handlers) throw new Error('the event stream is not connected');
      handlers.onEvent({ event, data: JSON.stringify(data), id: null });
    },
  };
}

/**
 * The vertices a LineChart drew for one series, in drawing order, as [x, y] pixels (y grows downwards);
 * empty when the line is not drawn.
 */
export function linePoints(chart: HTMLElement, seriesKey: string): [number, number][] {
  const path = chart.querySelector(`.chart-line-${seriesKey} path`)?.getAttribute('d') ?? '';
  return [...path.matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((match) => [Number(match[1]), Number(match[2])]);
}
