/*
 * Live data: a query fetched once, then again whenever one of its directives' event feeds says
 * something changed (graphql-ws directiveEvents), and after the websocket comes back (events sent
 * while it was down are lost). Refetches are coalesced: at most one in flight, and one more after it
 * when events arrived meanwhile, so a burst of events costs two queries, not one per event.
 *
 * graphql-ws does not acknowledge a subscription, and the server LISTENs only once it has checked the
 * caller may see the directive: an event between the first fetch and that moment would be missed. So
 * the data is fetched once more shortly after each new set of subscriptions, and every 30 s as a
 * safety net (which also shows directives created elsewhere, which have no feed yet).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, onConnection, subscribe } from "./api";

const SETTLE_MS = 750;
const SAFETY_NET_MS = 30_000;
const EVENTS = "subscription DirectiveEventsPing($d: UUID!) { directiveEvents(directiveId: $d) { firstEventId kind } }";

export type Live<T> = { data: T | undefined; error: string | undefined; refetch: () => void };

export function useLiveQuery<T>(fetcher: () => Promise<T>, key: string, directiveIds: (data: T) => string[]): Live<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const state = useRef({ running: false, again: false, alive: true, fetcher });
  state.current.fetcher = fetcher;

  const refetch = () => {
    const s = state.current;
    if (s.running) return void (s.again = true);
    s.running = true;
    s.fetcher()
      .then((d) => {
        if (!s.alive) return;
        setData(d);
        setError(undefined);
      })
      .catch((err: unknown) => s.alive && setError(err instanceof ApiError || err instanceof Error ? err.message : String(err)))
      .finally(() => {
        s.running = false;
        if (s.again && s.alive) {
          s.again = false;
          refetch();
        }
      });
  };

  useEffect(() => {
    state.current.alive = true;
    setData(undefined);
    refetch();
    const off = onConnection((_state, reconnected) => reconnected && refetch());
    const timer = setInterval(refetch, SAFETY_NET_MS);
    return () => {
      state.current.alive = false;
      clearInterval(timer);
      off();
    };
  }, [key]);

  // One subscription per directive shown; resubscribed only when that set changes.
  const ids = data ? directiveIds(data) : [];
  const idsKey = ids.join(",");
  useEffect(() => {
    const stops = ids.map((d) => subscribe(EVENTS, { d }, () => refetch(), (message) => setError(message)));
    const settle = ids.length > 0 ? setTimeout(refetch, SETTLE_MS) : undefined;
    return () => {
      clearTimeout(settle);
      stops.forEach((stop) => stop());
    };
  }, [idsKey]);

  return { data, error, refetch };
}
