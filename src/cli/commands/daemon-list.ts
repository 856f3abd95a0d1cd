import type { Command } from "commander";
import { DaemonListDocument } from "../../client/generated/graphql";
import { present, rows as nodes } from "../../client/results";
import { addCommonOptions, apiClient, output, type CommonOptions } from "../context";

export function register(daemon: Command): void {
  addCommonOptions(
    daemon
      .command("list")
      .description("List your daemons: id, name, status, load (tasks running / max), last heartbeat, and whether it is revoked.")
      .addHelpText("after", "\nExample:\n  baton daemon list --json"),
  ).action(async (opts: CommonOptions) => {
    const data = await apiClient(opts).request(DaemonListDocument, {});
    const rows = nodes(present(data.daemons, "the daemons").nodes);
    output(opts, rows, () =>
      rows.length === 0
        ? "No daemons. Start one with `baton daemon run --agent-command CMD`."
        : rows
            .map((d) =>
              [
                d.rowId,
                (d.revokedAt ? "revoked" : d.status).padEnd(12),
                `${d.activeTaskCount}/${d.maxTasks}`.padStart(7),
                `heartbeat ${d.lastHeartbeatAt}`,
                d.name + (d.hostname ? ` (${d.hostname})` : ""),
              ].join("  "),
            )
            .join("\n"),
    );
  });
}
