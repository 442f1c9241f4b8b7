import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError } from './client';
import { api } from './endpoints';
import { type ConnectionState, connectEventStream, type EventStreamConnector, type ServerEvent } from './sse';
import { authStore } from './token';
import type { AutoscalerState, GroupsResponse, PointEvent } from './types';

/** What the live stream has said most recently, shared by every page. */
export interface LiveState {
  readonly groups: GroupsResponse | null;
  /** Null until known; `absent` when this server runs no autoscaler. */
  readonly autoscaler: AutoscalerState | 'absent' | null;
  readonly connection: ConnectionState;
  /** The last failure to load or to stay connected, for people. */
  readonly problem: ApiError | null;
  /** Subscribes to `point` events; returns the unsubscribe function. */
  readonly onPoint: (listener: (event: PointEvent) => void) => () => void;
  /** Replaces the autoscaler state after a pause/resume, before the next event confirms it. */
  readonly setAutoscaler: (state: AutoscalerState) => void;
}

const LiveContext = createContext<LiveState | null>(null);

export function useLive(): LiveState {
  const live = useContext(LiveContext);
  if (!live) throw new Error('useLive needs a <LiveProvider> above it');
  return live;
}

/** Applies one server event to the state; unknown events and undecodable data are ignored. */
export function decodeEvent(
  event: ServerEvent,
):
  | { readonly kind: 'groups'; readonly groups: GroupsResponse }
  | { readonly kind: 'autoscaler'; readonly autoscaler: AutoscalerState }
  | { readonly kind: 'point'; readonly point: PointEvent }
  | null {
  let data: unknown;
  try {
    data = JSON.parse(event.data);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  if (event.event === 'groups' && Array.isArray((data as GroupsResponse).groups)) return { kind: 'groups', groups: data as GroupsResponse };
  if (event.event === 'autoscaler' && typeof (data as AutoscalerState).group === 'string') return { kind: 'autoscaler', autoscaler: data as AutoscalerState };
  if (event.event === 'point' && typeof (data as PointEvent).group === 'string' && typeof (data as PointEvent).point === 'object') {
    return { kind: 'point', point: data as PointEvent };
  }
  return null;
}

interface LiveProviderProps {
  readonly children: ReactNode;
  /** The event stream; tests pass a fake one. */
  readonly connect?: EventStreamConnector;
}

/**
 * Loads the groups and the autoscaler once, then follows `GET /api/v1/events`, so the pages
 * update without a refresh. The initial load means the overview shows data before the first
 * collection event arrives.
 */
export function LiveProvider({ children, connect = connectEventStream }: LiveProviderProps) {
  const [groups, setGroups] = useState<GroupsResponse | null>(null);
  const [autoscaler, setAutoscaler] = useState<AutoscalerState | 'absent' | null>(null);
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const [problem, setProblem] = useState<ApiError | null>(null);
  const pointListeners = useRef(new Set<(event: PointEvent) => void>());
  // Stable, so subscribers do not resubscribe (and lose what they gathered) on every event.
  const onPoint = useCallback((listener: (event: PointEvent) => void) => {
    pointListeners.current.add(listener);
    return () => {
      pointListeners.current.delete(listener);
    };
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    const load = () => {
      api.groups(controller.signal).then(
        (response) => {
          // A stream event may have arrived first; keep the newer of the two.
          setGroups((current) => (current && current.time > response.time ? current : response));
          setProblem(null);
        },
        (error: unknown) => {
          if (error instanceof ApiError) setProblem(error);
        },
      );
      api.autoscaler(controller.signal).then(
        (state) => setAutoscaler((current) => (current && current !== 'absent' ? current : state)),
        (error: unknown) => {
          if (error instanceof ApiError && error.status === 404) setAutoscaler('absent');
        },
      );
    };
    load();
    // After a token is saved, load again (the first attempt may have met a 401).
    let revision = authStore.get().revision;
    const unsubscribe = authStore.subscribe(() => {
      if (authStore.get().revision === revision) return;
      revision = authStore.get().revision;
      load();
    });
    return () => {
      unsubscribe();
      controller.abort();
    };
  }, []);

  useEffect(
    () =>
      connect({
        onState: (state, detail) => {
          setConnection(state);
          if (state === 'open') setProblem(null);
          else if (state === 'reconnecting' && detail) setProblem(new ApiError(0, 'stream_interrupted', `live updates interrupted (${detail}); reconnecting`));
        },
        onEvent: (event) => {
          const decoded = decodeEvent(event);
          if (!decoded) return;
          if (decoded.kind === 'groups') setGroups(decoded.groups);
          else if (decoded.kind === 'autoscaler') setAutoscaler(decoded.autoscaler);
          else for (const listener of pointListeners.current) listener(decoded.point);
        },
      }),
    [connect],
  );

  const value = useMemo<LiveState>(
    () => ({
      groups,
      autoscaler,
      connection,
      problem,
      onPoint,
      setAutoscaler,
    }),
    [groups, autoscaler, connection, problem, onPoint],
  );
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}
