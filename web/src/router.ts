/*
 * The page paths (the server's static-files.ts serves index.html for exactly these): history API,
 * no hash routing, so the sign-in fragment is the only fragment the page ever reads.
 */
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "directives" }
  | { page: "new-directive" }
  | { page: "directive"; id: string }
  | { page: "daemons" }
  | { page: "signin" }
  | { page: "not-found"; path: string };

export function parseRoute(pathname: string): Route {
  if (pathname === "/" || pathname === "/directives") return { page: "directives" };
  if (pathname === "/directives/new") return { page: "new-directive" };
  const directive = /^\/directives\/([0-9a-fA-F-]{36})$/.exec(pathname);
  if (directive) return { page: "directive", id: directive[1]!.toLowerCase() };
  if (pathname === "/daemons") return { page: "daemons" };
  if (pathname === "/signin") return { page: "signin" };
  return { page: "not-found", path: pathname };
}

const listeners = new Set<() => void>();

export function navigate(path: string, replace = false): void {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  for (const l of listeners) l();
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.pathname));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.pathname));
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

/** A link the router follows without a page load (a modified click opens a tab as usual). */
export function onLinkClick(event: MouseEvent): void {
  const a = event.currentTarget as HTMLAnchorElement;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(a.getAttribute("href")!);
}
