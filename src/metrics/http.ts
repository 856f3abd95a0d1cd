/*
 * HTTP request counts, kept in this process: by route and status code. Routes are Baton's own paths;
 * anything else counts as `other`, so a scanner probing random paths cannot grow the label set.
 */
import type http from "node:http";
import { Counter, type Registry } from "prom-client";

const ROUTES = new Set(["/graphql", "/graphiql", "/healthz", "/metrics"]);

export function routeOf(pathname: string): string {
  if (ROUTES.has(pathname)) return pathname;
  if (pathname.startsWith("/ruru-static/")) return "/ruru-static"; // Ruru's scripts and styles
  return "other";
}

export class HttpMetrics {
  private readonly requests: Counter<"route" | "status">;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: "baton_http_requests_total",
      help: "HTTP requests served by this process, by route and status code (101: websocket upgrades; 0: the client went away first).",
      labelNames: ["route", "status"],
      registers: [registry],
    });
  }

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
    this.requests.inc({ route, status: String(status) });
  }
}
