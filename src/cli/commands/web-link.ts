/*
 * `baton web link`: a new one-time sign-in link for the web dashboard, for the owner of the CLI's token
 * (for when the link `baton server` printed is used up or expired). It asks the server (POST
 * /auth/link with the owner token) for a code, and the link names the address the CLI reaches the
 * server at (through a proxy, that is the proxy's).
 */
import type { Command } from "commander";
import { z } from "zod";
import { CredentialsError, resolveEndpoint } from "../../client/credentials";
import { GraphQLRequestError, REQUEST_TIMEOUT_MS } from "../../client/graphql";
import { addCommonOptions, output, UsageError, type CommonOptions } from "../context";

const LinkAnswer = z.object({ url: z.string().url(), expiresAt: z.string() });
const ErrorAnswer = z.object({ error: z.string() });

export function register(web: Command): void {
  addCommonOptions(
    web
      .command("link")
      .description("Print a new one-time sign-in link for the web dashboard (it works once, for 15 minutes).")
      .addHelpText(
        "after",
        "\nOpen the link in a browser on a machine that reaches the server; it signs you in as your owner and then no longer works.\nThe code is in the link's #fragment, which browsers never send to a server, so it reaches no log.\n\nExamples:\n  baton web link\n  baton web link --api http://10.0.0.5:4000 --token \"$BATON_TOKEN\" --json",
      ),
  ).action(async (opts: CommonOptions) => {
    let apiUrl: string;
    let token: string | undefined;
    try {
      ({ apiUrl, token } = resolveEndpoint(opts));
    } catch (err) {
      if (err instanceof CredentialsError) throw new UsageError(err.message);
      throw err;
    }
    if (!token) throw new UsageError("No token: a sign-in link is for your owner, so pass --token, set BATON_TOKEN, or run this where `baton server` wrote credentials.json.");
    const endpoint = new URL("/auth/link", apiUrl);
    let res: Response;
    try {
      res = await fetch(endpoint, { method: "POST", headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch (err) {
      throw new GraphQLRequestError(`Cannot reach the Baton server at ${endpoint.origin} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}). Is \`baton server\` running?`, undefined, "network");
    }
    const body: unknown = await res.json().catch(() => undefined);
    if (!res.ok) {
      const problem = ErrorAnswer.safeParse(body);
      const why = problem.success ? problem.data.error : `HTTP ${res.status}`;
      throw new GraphQLRequestError(res.status === 404 ? `The server at ${endpoint.origin} has no dashboard sign-in (${why}); upgrade it.` : why, undefined, res.status === 401 || res.status === 403 ? "auth" : "graphql");
    }
    const answer = LinkAnswer.parse(body);
    // The link names the address this CLI reaches the server at (a proxy's https address, say), not the one the server sees.
    const url = new URL(`/signin${new URL(answer.url).hash}`, endpoint.origin).toString();
    output(opts, { url, expires_at: answer.expiresAt }, `${url}\n(works once, until ${answer.expiresAt})`);
  });
}
