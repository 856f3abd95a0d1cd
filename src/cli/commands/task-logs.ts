import type { Command } from "commander";
import { errorSummary } from "../../agent-error";
import { LIVE_TASK_STATUSES, statusIn } from "../../statuses";
import { addCommonOptions, apiClient, parseId, type CommonOptions } from "../context";
import { chunkJson, followFeed, LogReader, type LogChunk, type TaskLog } from "../logs-feed";

export function taskNotFound(id: string): Error {
  return Object.assign(new Error(`Task ${id} does not exist. \`baton directive status --json\` lists a directive's tasks; \`baton directive logs\` prints all their output.`), { code: "BTNFD" });
}

/** One line on stderr that says where the task stands, when that is worth saying. */
export function taskEndLine(t: TaskLog): string {
  const { rowId, status, error } = t.info;
  return error && !statusIn(status, ["completed"]) ? `Task ${rowId} is ${status}: ${errorSummary(error)}` : `Task ${rowId} is ${status}.`;
}

export function register(task: Command): void {
  addCommonOptions(
    task
      .command("logs")
      .argument("<task>", "the task's id (`baton directive status --json` lists them; `directive status` and `events` name the failed ones)")
      .description("Print what a task's agent wrote on stdout and stderr, as stored (up to 1 MiB per task); --follow streams the rest until the task ends.")
      .option("--follow", "keep printing new output until the task ends (Ctrl-C to stop)")
      .addHelpText(
        "after",
        `
The output is printed as the agent wrote it (stdout and stderr interleaved, in the order the daemon
sent them). With --json: an array of chunks {taskId, kind, step, attempt, seq, stream, text, createdAt},
or with --follow one chunk per line. Every task of a directive: \`baton directive logs\`.

Examples:
  baton task logs 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f
  baton task logs 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f --follow`,
      ),
  ).action(async (taskArg: string, opts: CommonOptions & { follow?: boolean }) => {
    const id = parseId(taskArg, "The task id");
    const client = apiClient(opts);
    const collected: ReturnType<typeof chunkJson>[] = [];
    let printed = 0;
    let lastText = "";
    const emit = (t: TaskLog, c: LogChunk) => {
      printed++;
      lastText = c.text;
      if (!opts.json) process.stdout.write(c.text);
      else if (opts.follow) process.stdout.write(JSON.stringify(chunkJson(t, c, false)) + "\n");
      else collected.push(chunkJson(t, c, false));
    };
    const reader = new LogReader(client, () => "", emit);
    let t = await reader.catchUp(id);
    if (!t) throw taskNotFound(id);

    if (opts.follow && statusIn(t.info.status, LIVE_TASK_STATUSES)) {
      const ended = async () => {
        t = (await reader.catchUp(id)) ?? t!;
        return !statusIn(t.info.status, LIVE_TASK_STATUSES);
      };
      await followFeed(client, t.info.directiveId, {
        catchUp: ended,
        async onEvents(events) {
          for (const e of events) {
            if (e.subjectType !== "task" || e.subjectId !== id) continue;
            if (e.kind === "output") await reader.fromEvent(id, e.outputChunks);
            // The daemon sends its last output before it reports the end: one more read takes anything a lost notification held.
            else if (e.kind === "status_changed" && e.toStatus && !statusIn(e.toStatus, LIVE_TASK_STATUSES)) return ended();
          }
          return false;
        },
      });
    }

    if (opts.json && !opts.follow) {
      process.stdout.write(JSON.stringify(collected, null, 2) + "\n");
      return;
    }
    if (opts.json) return;
    // On a terminal, the status line starts on a line of its own.
    if (process.stdout.isTTY && lastText && !lastText.endsWith("\n")) process.stdout.write("\n");
    const live = statusIn(t.info.status, LIVE_TASK_STATUSES);
    if (printed === 0) process.stderr.write(`Task ${id} has no output${live ? " yet" : ""}.\n`);
    if (live) process.stderr.write(`Task ${id} is ${t.info.status}; \`baton task logs ${id} --follow\` streams the rest.\n`);
    else if (opts.follow || t.info.status !== "completed") process.stderr.write(taskEndLine(t) + "\n");
  });
}
