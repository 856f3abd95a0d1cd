import type { Command } from "commander";
import { DirectiveEventsFeedDocument } from "../../client/generated/graphql";
import { subscribe } from "../../client/graphql";
import { addCommonOptions, apiClient, directiveIdFrom, type CommonOptions } from "../context";
import { LinePrinter, LogReader, type LogTask } from "../logs-feed";
import { outcome, OutputTail, pauseReason, renderWatch, settledCount } from "../render/watch";
import { formatEvent } from "./directive-events";
import { planWaitingLine } from "./directive-plan";
import { fetchDirective, fetchUsage, resultText, snapshotJson, usageLines, type DirectiveSnapshot, type DirectiveUsage } from "./directive-status";

/** "Write the outline #2", "planner #1", "integration #1": how watch labels a task's output lines when piped. */
function label(t: LogTask): string {
  const n = `#${t.attempt ?? 1}`;
  return t.kind === "planning" ? `planner ${n}` : t.kind === "integration" ? `integration ${n}` : `${t.step?.name ?? `step ${t.stepId?.slice(0, 8) ?? "?"}`} ${n}`;
}

/** Exit code when the watch ends: 0 all completed (and integrated), 1 failed or blocked steps remain, or it is paused. */
export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("watch")
      .description(
        "Live view of a directive and the last output lines of each running task, until nothing more will run: exits 0 when it is idle with every step completed (and, with a repository, prints its pushed result), 1 when some failed or are blocked, or when it is paused (by hand, or because its planner or integration failed; the reason is printed), or when a plan waits for your review (the hint is printed).",
      )
      .addHelpText(
        "after",
        `
On a terminal the view is redrawn in place, with the last 3 output lines under each running task.
Piped, it prints each event and each line of the agents' output ("Write the outline #1 | ..."), then
the result and a last line such as "idle: 4/4 steps settled, outcome succeeded".

Example:
  baton directive watch --directive $BATON_DIRECTIVE_ID`,
      ),
    { directive: true },
  ).action(async (opts: CommonOptions) => {
    const id = directiveIdFrom(opts);
    const client = apiClient(opts);
    const tty = Boolean(process.stdout.isTTY) && !opts.json;
    const ws = client.websocket();
    const tails = new Map<string, string[]>();
    // Agents' output: the stored chunks of a task are read when its output event arrives (one task at a time, in order).
    const outputTails = new Map<string, OutputTail>();
    const printer = new LinePrinter((line) => process.stdout.write(line + "\n"));
    const reader = new LogReader(client, label, (t, c) => {
      if (opts.json) return;
      if (!tty) return printer.chunk(t, c);
      let tail = outputTails.get(t.info.rowId);
      if (!tail) outputTails.set(t.info.rowId, (tail = new OutputTail(3)));
      tail.add(c.text);
      tails.set(t.info.rowId, tail.lines());
    });
    let reading: Promise<unknown> = Promise.resolve();
    const readOutput = (taskId: string) => (reading = reading.then(() => reader.catchUp(taskId)).catch(() => undefined).then(draw));
    let snapshot: DirectiveSnapshot | undefined;
    let usage: DirectiveUsage | null = null;
    let finished: (code: number) => void = () => undefined;
    const result = new Promise<number>((resolve) => (finished = resolve));

    const draw = () => {
      if (!snapshot) return;
      if (tty) process.stdout.write("\x1b[H\x1b[2J" + renderWatch(snapshot, Date.now(), tails, process.stdout.columns || 80, usage) + "\n");
    };
    const refresh = async () => {
      snapshot = await fetchDirective(opts, id);
      usage = await fetchUsage(opts, id);
      draw();
      const o = outcome(snapshot);
      if (o !== "running") {
        // Plan review (sql/000024): an idle directive may hold a plan for the owner to approve; say so.
        const planWaiting = await planWaitingLine(client, id).catch(() => null);
        await reading;
        printer.flush();
        if (!tty) {
          const reason = pauseReason(snapshot, usage?.pausedReason ?? null);
          const line = opts.json
            ? JSON.stringify({ outcome: o, ...snapshotJson(snapshot), usage, ...(planWaiting ? { planWaiting } : {}) })
            : [
                ...usageLines(usage, "").slice(0, 1), // the usage line (the pause reason follows below)
                ...(snapshot.repo ? [resultText(snapshot)] : []),
                ...(reason ? [`paused: ${reason}`] : []),
                ...(planWaiting ? [planWaiting] : []),
                `${snapshot.status}: ${settledCount(snapshot)}/${snapshot.directiveSteps.nodes.length} steps settled, outcome ${o}`,
              ].join("\n");
          process.stdout.write(line + "\n");
        }
        finished(o === "succeeded" && !planWaiting ? 0 : 1);
      }
    };
    let refreshing: Promise<void> = Promise.resolve();
    const scheduleRefresh = () => (refreshing = refreshing.then(refresh, refresh));

    // Subscribe first, then read, so no transition falls in between; resubscribe if the server restarts.
    let stopped = false;
    void (async () => {
      while (!stopped) {
        const sub = subscribe(ws, DirectiveEventsFeedDocument, { d: id }, (data) => {
            for (const e of data.directiveEvents?.events ?? []) {
              if (e.kind === "output" && e.subjectType === "task") {
                // Output events carry no text: read what the task stored since the last read.
                if (!opts.json) readOutput(e.subjectId);
                if (!opts.json) continue;
              }
              if (!tty) process.stdout.write((opts.json ? JSON.stringify(e) : formatEvent(e)) + "\n");
            }
            scheduleRefresh();
          });
        await sub.done.catch(() => new Promise((r) => setTimeout(r, 1000)));
        if (!stopped) scheduleRefresh();
      }
    })();
    scheduleRefresh();
    // A backstop against a missed notification, and the elapsed-time display.
    const timer = setInterval(() => (tty ? draw() : undefined), 1000);
    const poll = setInterval(scheduleRefresh, 5000);
    const code = await result;
    stopped = true;
    clearInterval(timer);
    clearInterval(poll);
    await ws.dispose();
    process.exitCode = code;
  });
}
