/*
 * HTTP request counts, kept in this process: by route and status code. Routes are Baton's own paths;
 * anything else counts as `other`, so a scanner probing random paths cannot grow the label set.
 */
import type http from "node:http";
import type { Family } from "./prometheus";

const ROUTES = new Set(["/graphql", "/graphiql", "/healthz", "/metrics"]);

export function routeOf(pathname: string): string {
  if (ROUTES.has(pathname)) return pathname;
  if (pathname.startsWith("/ruru-static/")) return "/ruru-static"; // Ruru's scripts and styles
  return "other";
}

export class HttpMetrics {
  private readonly counts = new Map<string, { route: string; status: string; n: number }>();

  /** Counts a request once its response is sent (or its connection closes first, as status 0). */
  track(req: http.IncomingMessage, res: http.ServerResponse): void {
    const route = routeOf(new URL(req.url ?? "/", "http://localhost").pathname);
    let counted = false;
    const count = (status: number) => {
      if (counted) return;
      counted = true;
      this.add(route, status);
    };
    res.once("finish", () => count(res.statusCode));
    res.once("close", () => count(res.writableFinished ? res.statusCode : 0));
  }

  /** Counts a websocket upgrade on a route (status 101). */
  trackUpgrade(pathname: string): void {
    this.add(routeOf(pathname), 101);
  }

  private add(route: string, status: number): void {
    const key = `${route} ${status}`;
    const entry = this.counts.get(key) ?? { route, status: String(status), n: 0 };
    entry.n += 1;
    this.counts.set(key, entry);
  }

  families(): Family[] {
    return [
      {
        name: "baton_http_requests_total",
        help: "HTTP requests served by this process, by route and status code (101: websocket upgrades; 0: the client went away first).",
        type: "counter",
        samples: [...this.counts.values()]
          .sort((a, b) => (a.route + a.status).localeCompare(b.route + b.status))
          .map((c) => ({ labels: { route: c.route, status: c.status }, value: c.n })),
      },
    ];
  }
}
