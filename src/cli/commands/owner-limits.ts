/*
 * `baton owner limits --max-parallel N|none`: how many of the owner's tasks may run at once over all
 * its directives and daemons (sql/000026, owners.max_parallel). Through the API, with the owner's token:
 * an agent's or a daemon's token is refused.
 */
import type { Command } from "commander";
import { SetOwnerMaxParallelDocument } from "../../client/generated/graphql";
import { present } from "../../client/results";
import { addCommonOptions, apiClient, output, UsageError, type CommonOptions } from "../context";
import { parseMaxParallel } from "./directive-fairness";

type Options = CommonOptions & { maxParallel?: string };

export function register(owner: Command): void {
  addCommonOptions(
    owner
      .command("limits")
      .description("Set how many of your tasks may run at once, over all your directives (uses your owner token).")
      .option("--max-parallel <n>", "at most this many of your tasks run at once, 1 to 100000 (none: no limit)")
      .addHelpText(
        "after",
        `
Tasks beyond the limit wait (pending) and get the next slot one of yours frees; running tasks are never
stopped. A directive's own limit is \`baton directive update --max-parallel\`.

Examples:
  baton owner limits --max-parallel 6
  baton owner limits --max-parallel none`,
      ),
  ).action(async (opts: Options) => {
    if (opts.maxParallel === undefined) throw new UsageError("Nothing to set: give --max-parallel N (1 to 100000) or --max-parallel none.");
    const maxParallel = parseMaxParallel(opts.maxParallel, 100000);
    const data = await apiClient(opts).request(SetOwnerMaxParallelDocument, { maxParallel });
    const o = present(data.setOwnerMaxParallel?.result, "the owner");
    output(opts, o, `Max parallel tasks of owner ${o.rowId}: ${o.maxParallel ?? "none"}.`);
  });
}
