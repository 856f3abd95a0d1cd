import type { Command } from "commander";
import { DirectiveEventsFeedDocument } from "../../client/generated/graphql";
import { subscribe } from "../../client/graphql";
import { addCommonOptions, apiClient, directiveIdFrom, type CommonOptions } from "../context";
import { outcome, pauseReason, renderWatch, settledCount } from "../render/watch";
import { eventDetail, formatEvent } from "./directive-events";
import { fetchDirective, resultText, snapshotJson, type DirectiveSnapshot } from "./directive-status";

/** Exit code when the watch ends: 0 all completed (and integrated), 1 failed or blocked steps remain, or Baton paused it. */
export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("watch")
      .description(
        "Live view of a directive until it is idle: exits 0 when every step completed (and, with a repository, its result branch is pushed), 1 when some failed or are blocked, or when its planner or integration failed and paused it.",
      )
      .addHelpText("after", "\nExample:\n  baton directive watch --directive $BATON_DIRECTIVE_ID"),
    { directive: true },
  ).action(async (opts: CommonOptions) => {
    const id = directiveIdFrom(opts);
    const client = apiClient(opts);
    const tty = Boolean(process.stdout.isTTY) && !opts.json;
    const ws = client.websocket();
    const tails = new Map<string, string[]>();
    let snapshot: DirectiveSnapshot | undefined;
    let finished: (code: number) => void = () => undefined;
    const result = new Promise<number>((resolve) => (finished = resolve));

    const draw = () => {
      if (!snapshot) return;
      if (tty) process.stdout.write("\x1b[H\x1b[2J" + renderWatch(snapshot, Date.now(), tails, process.stdout.columns || 80) + "\n");
    };
    const refresh = async () => {
      snapshot = await fetchDirective(opts, id);
      draw();
      const o = outcome(snapshot);
      if (o !== "running") {
        if (!tty) {
          const reason = pauseReason(snapshot);
          const line = opts.json
            ? JSON.stringify({ outcome: o, ...snapshotJson(snapshot) })
            : [
                ...(snapshot.repo ? [resultText(snapshot)] : []),
                ...(reason ? [`paused: ${reason}`] : []),
                `${snapshot.status}: ${settledCount(snapshot)}/${snapshot.directiveSteps.nodes.length} steps settled, outcome ${o}`,
              ].join("\n");
          process.stdout.write(line + "\n");
        }
        finished(o === "succeeded" ? 0 : 1);
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
              const detail = eventDetail(e);
              if (e.kind === "output" && typeof detail.task_id === "string" && typeof detail.tail === "string") {
                tails.set(detail.task_id, detail.tail.split("\n").filter(Boolean).slice(-3));
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
