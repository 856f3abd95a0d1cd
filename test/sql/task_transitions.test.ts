/*
 * The task state machine through report_task_status: pending -> starting -> running -> completed |
 * failed | interrupted; running -> checking (a step's check runs, sql/000018) -> completed | failed |
 * interrupted; live -> cancelled; terminal states are final. Also the optimistic version
 * check (BTSTL), the daemon check (BTDNY), and how a report moves the step. And every pair of
 * statuses through a DBA's direct UPDATE (the _200_guard trigger of sql/000005_tasks.sql).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { createTask, statuses, step, type Task } from "../helpers/fixtures";
import { andUndo, chain, createDaemon, q, setup, task, transitionMatrix, writesNothing } from "./support";

const db = useTestDatabase();

const LIVE = ["pending", "starting", "running", "checking"] as const;
const TERMINAL = ["completed", "failed", "interrupted", "cancelled"] as const;
const ALL = [...LIVE, ...TERMINAL];
type TaskStatus = (typeof ALL)[number];

/** A task of step `a` (which `b` depends on) in the given status; `starting` and later have a daemon. */
async function taskIn(c: PoolClient, status: TaskStatus): Promise<{ t: Task; a: string; b: string; directiveId: string }> {
  const { owner, d, s } = await setup(c, chain("a", "b"));
  const a = s.a!.id;
  // With a connected daemon, a new task is assigned at once (starting); without one it waits (pending).
  if (status !== "pending") await createDaemon(c, owner);
  const t = await createTask(c, a);
  if (status !== "pending" && status !== "starting") await report(c, t.id, "running");
  if (status !== "pending" && status !== "starting" && status !== "running") await report(c, t.id, status);
  const now = await task(c, t.id);
  assert.equal(now.status, status);
  return { t: now, a, b: s.b!.id, directiveId: d.id };
}

const report = (c: PoolClient, id: string, status: string, extra: { expected?: number; daemon?: string; error?: string } = {}) =>
  q<Task & { error: string | null; branch: string | null; commit_sha: string | null }>(
    c,
    "select * from baton.report_task_status(task_id => $1, status => $2, expected_version => $3, daemon_id => $4, error => $5)",
    [id, status, extra.expected ?? null, extra.daemon ?? null, extra.error ?? null],
  );

/** Which statuses a live task may be reported in; pending -> starting/running needs a daemon (assign_task). */
const LEGAL: Record<(typeof LIVE)[number], TaskStatus[]> = {
  pending: ["completed", "failed", "interrupted", "cancelled"],
  starting: ["running", "completed", "failed", "interrupted", "cancelled"],
  running: ["checking", "completed", "failed", "interrupted", "cancelled"],
  checking: ["completed", "failed", "interrupted", "cancelled"],
};

describe("report_task_status from a live status", () => {
  for (const from of LIVE) {
    it(`moves a ${from} task to ${LEGAL[from].join(", ")}`, () =>
      withRootDb(db, async (c) => {
        const { t } = await taskIn(c, from);
        for (const to of LEGAL[from]) {
          await andUndo(c, async () => {
            const r = await report(c, t.id, to);
            assert.equal(r.status, to);
            assert.equal(r.version, t.version + 1);
            if (to !== "running" && to !== "checking") assert.ok((await task(c, t.id)).finished_at, "a terminal task is stamped finished");
          });
        }
      }));
  }

  it("refuses to make a task without a daemon starting or running (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "pending");
      for (const to of ["starting", "running"]) {
        await assertDbError(
          writesNothing(c, () => report(c, t.id, to)),
          "BTSTS",
          `Task ${t.id} has no daemon, so it cannot be ${to}; assign it to a daemon first.`,
        );
      }
    }));

  it("refuses to move a starting task back to pending (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "starting");
      const e = await assertDbError(
        writesNothing(c, () => report(c, t.id, "pending")),
        "BTSTS",
        `Task ${t.id} is starting, so it cannot become pending; allowed from starting are running, completed, failed, interrupted, cancelled.`,
      );
      assert.equal((e as { detail?: string }).detail, "from=starting to=pending");
    }));

  it("refuses to move a running task back to pending or starting (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "running");
      for (const to of ["pending", "starting"]) {
        await assertDbError(
          writesNothing(c, () => report(c, t.id, to)),
          "BTSTS",
          `Task ${t.id} is running, so it cannot become ${to}; allowed from running are waiting, checking, completed, failed, interrupted, cancelled.`,
        );
      }
    }));

  it("accepts a repeat of the current live status, bumping only the version", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "running");
      const r = await report(c, t.id, "running");
      assert.equal(r.status, "running");
      assert.equal(r.version, t.version + 1);
    }));
});

describe("report_task_status on a terminal task", () => {
  for (const from of TERMINAL) {
    it(`keeps a ${from} task final: a repeat is a no-op, anything else is late (BTSTL)`, () =>
      withRootDb(db, async (c) => {
        const { t } = await taskIn(c, from);
        const same = await report(c, t.id, from);
        assert.equal(same.status, from);
        assert.equal(same.version, t.version, "a repeated report changes nothing");
        for (const to of ALL.filter((x) => x !== from)) {
          await assertDbError(
            writesNothing(c, () => report(c, t.id, to)),
            "BTSTL",
            `Task ${t.id} is already ${from} (version ${t.version}), so this late "${to}" report was ignored.`,
          );
        }
      }));
  }

  it("refuses a direct UPDATE of a finished task too (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "completed");
      await assertDbError(
        writesNothing(c, () => c.query("update baton.tasks set status = 'running' where id = $1", [t.id])),
        "BTSTS",
        `Task ${t.id} is completed, so it cannot become running; completed, failed, interrupted and cancelled are final.`,
      );
    }));
});

describe("report_task_status", () => {
  for (const word of ["merged", "done", " Done "]) {
    it(`takes "${word}" to mean completed`, () =>
      withRootDb(db, async (c) => {
        const { t, a } = await taskIn(c, "running");
        assert.equal((await report(c, t.id, word)).status, "completed");
        assert.equal((await step(c, a)).status, "completed");
        // A repeat in another word for completed is still a repeat.
        assert.equal((await report(c, t.id, "merged")).status, "completed");
      }));
  }

  it("refuses an unknown status (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "running");
      await assertDbError(
        writesNothing(c, () => report(c, t.id, "exploded")),
        "BTINV",
        'Unknown task status "exploded"; report one of running, checking, completed (or merged, done), failed, interrupted.',
      );
    }));

  it("refuses a report made against a stale version (BTSTL)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "running");
      const e = await assertDbError(
        writesNothing(c, () => report(c, t.id, "completed", { expected: t.version - 1 })),
        "BTSTL",
        `Task ${t.id} is at version ${t.version}, but this report was made against version ${t.version - 1}; it was ignored.`,
      );
      assert.equal((e as { hint?: string }).hint, "Re-read the task and report again if the report still applies.");
      assert.equal((await report(c, t.id, "completed", { expected: t.version })).status, "completed");
    }));

  it("refuses a report from another daemon (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "running");
      const mine = t.daemon_id!;
      const { owner_id: owner } = await q<{ owner_id: string }>(c, "select owner_id from baton.tasks where id = $1", [t.id]);
      const intruder = await createDaemon(c, owner, { name: "intruder" });
      await assertDbError(
        writesNothing(c, () => report(c, t.id, "failed", { daemon: intruder })),
        "BTDNY",
        `Task ${t.id} is assigned to daemon ${mine}, not to daemon ${intruder}; only its daemon may report on it.`,
      );
      assert.equal((await report(c, t.id, "completed", { daemon: mine })).status, "completed");
    }));

  it("refuses a daemon's report on a task not assigned to any daemon (BTDNY)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "pending");
      const { owner_id: owner } = await q<{ owner_id: string }>(c, "select owner_id from baton.tasks where id = $1", [t.id]);
      const daemon = await createDaemon(c, owner);
      // Registering queues a dispatch run, but does not assign by itself.
      assert.equal((await task(c, t.id)).status, "pending");
      await assertDbError(
        writesNothing(c, () => report(c, t.id, "completed", { daemon })),
        "BTDNY",
        `Task ${t.id} is assigned to daemon none, not to daemon ${daemon}; only its daemon may report on it.`,
      );
    }));

  it("refuses an unknown task (BTNFD)", () =>
    withRootDb(db, async (c) => {
      const ghost = "00000000-0000-4000-8000-0000000000c1";
      await assertDbError(report(c, ghost, "completed"), "BTNFD", `Task ${ghost} does not exist.`);
    }));

  it("refuses an error text over 64 KB (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "running");
      await assertDbError(
        writesNothing(c, () => report(c, t.id, "failed", { error: "e".repeat(65537) })),
        "BTINV",
        "The error is 65537 bytes; the limit is 65536 bytes.",
      );
    }));

  it("keeps the error, branch and commit it is given", () =>
    withRootDb(db, async (c) => {
      const { t } = await taskIn(c, "running");
      await q(c, "select * from baton.report_task_status($1, 'completed', branch => 'baton/a', commit_sha => 'abc123')", [t.id]);
      const r = await q<{ branch: string; commit_sha: string; error: string | null }>(c, "select * from baton.tasks where id = $1", [t.id]);
      assert.deepEqual({ branch: r.branch, commit_sha: r.commit_sha, error: r.error }, { branch: "baton/a", commit_sha: "abc123", error: null });
    }));
});

describe("a task's status moves its step", () => {
  it("marks the step running when its task starts running", () =>
    withRootDb(db, async (c) => {
      const { a } = await taskIn(c, "running");
      assert.equal((await step(c, a)).status, "running");
    }));

  it("marks the step running already when its task is assigned (starting)", () =>
    withRootDb(db, async (c) => {
      const { a } = await taskIn(c, "starting");
      assert.equal((await step(c, a)).status, "running");
    }));

  it("completes the step when its task completes, and readies the dependents", () =>
    withRootDb(db, async (c) => {
      const { t, directiveId } = await taskIn(c, "running");
      await report(c, t.id, "completed");
      assert.deepEqual(await statuses(c, directiveId), { a: "completed", b: "ready" });
    }));

  it("completes a ready step whose pending task is reported completed", () =>
    withRootDb(db, async (c) => {
      const { t, directiveId } = await taskIn(c, "pending");
      await report(c, t.id, "done");
      assert.deepEqual(await statuses(c, directiveId), { a: "completed", b: "ready" });
    }));
});

describe("a DBA's direct UPDATE of a task's status", () => {
  /** The machine as this test expects it (sql/000005_tasks.sql's diagram). */
  const MACHINE: Record<TaskStatus, TaskStatus[]> = {
    pending: ["starting", "running", "completed", "failed", "interrupted", "cancelled"],
    starting: ["running", "completed", "failed", "interrupted", "cancelled"],
    running: ["checking", "completed", "failed", "interrupted", "cancelled"],
    checking: ["completed", "failed", "interrupted", "cancelled"],
    completed: [],
    failed: [],
    interrupted: [],
    cancelled: [],
  };
  const refusal = (id: string, from: TaskStatus, to: TaskStatus) =>
    `Task ${id} is ${from}, so it cannot become ${to}; ` +
    ((LIVE as readonly string[]).includes(from)
      ? // running -> waiting (sql/000025) needs an open question: test/sql/questions.test.ts covers it.
        `allowed from ${from} are ${(from === "running" ? ["waiting", ...MACHINE[from]] : MACHINE[from]).join(", ")}.`
      : "completed, failed, interrupted and cancelled are final.");

  for (const from of ALL) {
    const pairs = transitionMatrix(ALL, MACHINE).filter((p) => p.from === from);
    it(`from ${from}: accepts ${MACHINE[from].join(", ") || "nothing"}; refuses ${pairs.filter((p) => !p.legal).map((p) => p.to).join(", ")} (BTSTS)`, () =>
      withRootDb(db, async (c) => {
        const { t } = await taskIn(c, from);
        const daemon = t.daemon_id ?? (await createDaemon(c, (await q<{ owner_id: string }>(c, "select owner_id from baton.tasks where id = $1", [t.id])).owner_id));
        for (const { to, legal } of pairs) {
          if (legal) {
            // Starting and running need a daemon: the row must stay consistent for the move to be accepted.
            await andUndo(c, async () => {
              const r = await q<{ status: string }>(c, "update baton.tasks set status = $2, daemon_id = coalesce(daemon_id, $3) where id = $1 returning status", [
                t.id,
                to,
                daemon,
              ]);
              assert.equal(r.status, to, `${from} -> ${to} should be accepted`);
            });
          } else {
            const e = await assertDbError(
              writesNothing(c, () => c.query("update baton.tasks set status = $2 where id = $1", [t.id, to])),
              "BTSTS",
              refusal(t.id, from, to),
            );
            assert.equal((e as { detail?: string }).detail, `from=${from} to=${to}`);
          }
        }
      }));
  }
});
