import type { Command } from "commander";
import { addCommonOptions, apiClient, output, parseId, type CommonOptions } from "../context";
import { RevokeDaemonDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";

export function register(daemon: Command): void {
  addCommonOptions(
    daemon
      .command("revoke")
      .argument("<daemon-id>", "the daemon to revoke (see `baton daemon list`)")
      .description("Revoke a daemon for good: its tasks are interrupted and retried on another daemon, its token stops working, and its heartbeat no longer reconnects it.")
      .addHelpText("after", "\nExample:\n  baton daemon revoke 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f"),
  ).action(async (id: string, opts: CommonOptions) => {
    const daemonId = parseId(id, "The daemon id");
    const data = await apiClient(opts).request(RevokeDaemonDocument, { d: daemonId });
    const d = present(data.revokeDaemon?.result, "the revoked daemon");
    output(opts, d, `Daemon ${d.rowId} (${d.name}) is revoked; its tasks will be retried on other daemons.`);
  });
}
