/*
 * Keeping the daemon's token fresh. Daemon tokens are short-lived and renewable by their daemon while it
 * is not revoked (daemonToken(daemonId) with its own token). The keeper renews at about half of the
 * token's lifetime (read from its unverified `exp`/`iat`: the daemon only schedules with them, the
 * server verifies), persists the new token to the state file, and swaps it into the one client every
 * part of the daemon uses, so HTTP requests and the next websocket (re)connection carry it.
 */
import { unverifiedClaims } from "../auth/unverified-claims";
import { DaemonTokenDocument } from "../client/generated/graphql";
import { GraphQLClient, GraphQLRequestError } from "../client/graphql";
import { present } from "../client/results";
import type { Logger } from "../logger";

/** When to renew: half way between issue (or now, without iat) and expiry; null for a token without exp. */
export function renewAtMs(token: string, nowMs: number): number | null {
  const { exp, iat } = unverifiedClaims(token);
  if (typeof exp !== "number") return null;
  const start = typeof iat === "number" && iat * 1000 <= nowMs ? iat * 1000 : nowMs;
  return start + (exp * 1000 - start) / 2;
}

export type TokenHolder = { token: string };

/** A GraphQL client whose token is read from the holder at every request and websocket connection. */
export class RenewableClient extends GraphQLClient {
  constructor(url: string, holder: TokenHolder) {
    super(url, holder.token);
    Object.defineProperty(this, "token", { get: () => holder.token, enumerable: true });
  }
}

/** setTimeout cannot wait longer than 2^31-1 ms (it would fire at once): long waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MIN_DELAY_MS = 1000;

export class TokenKeeper {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly opts: {
      apiUrl: string;
      daemonId: string;
      holder: TokenHolder;
      persist: (token: string) => void;
      logger: Logger;
      /** The server refused the daemon's token for good (revoked, or it expired meanwhile). */
      onRefused: (message: string) => void;
      now?: () => number;
    },
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private schedule(afterFailure = false): void {
    if (this.stopped) return;
    const at = renewAtMs(this.opts.holder.token, this.now());
    if (at === null) return; // a token without expiry needs no renewal
    let delay = Math.max(MIN_DELAY_MS, at - this.now());
    if (afterFailure) {
      // Retry sooner than the next half-life, but not in a tight loop: at most a minute, at least a second.
      const expMs = (unverifiedClaims(this.opts.holder.token).exp ?? 0) * 1000;
      delay = Math.max(MIN_DELAY_MS, Math.min(60_000, 1000 * 2 ** Math.min(this.failures, 6), (expMs - this.now()) / 4));
    }
    this.timer = setTimeout(() => {
      if (delay > MAX_TIMER_MS) return this.schedule();
      void this.renew();
    }, Math.min(delay, MAX_TIMER_MS));
    this.timer.unref();
  }

  /** One renewal; exposed for the daemon's start-up check as well. */
  async renew(): Promise<void> {
    const client = new GraphQLClient(this.opts.apiUrl, this.opts.holder.token);
    try {
      const daemonToken = present((await client.request(DaemonTokenDocument, { d: this.opts.daemonId })).daemonToken, "a daemon token");
      this.opts.holder.token = daemonToken;
      this.opts.persist(daemonToken);
      this.failures = 0;
      this.opts.logger.info("daemon token renewed", { expires_at: new Date((unverifiedClaims(daemonToken).exp ?? 0) * 1000).toISOString() });
      this.schedule();
    } catch (err) {
      const e = err as GraphQLRequestError;
      // Refused for good: an invalid or expired token (auth), or a revoked daemon (BTDNY).
      if (e instanceof GraphQLRequestError && (e.kind === "auth" || e.code === "BTDNY")) {
        this.opts.logger.error("the server refused the daemon token; it cannot be renewed", { error: e.message });
        this.opts.onRefused(e.message);
        return;
      }
      this.failures++;
      this.opts.logger.warn("daemon token renewal failed; retrying", { error: (err as Error).message });
      this.schedule(true);
    }
  }
}
