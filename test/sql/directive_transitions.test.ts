/*
 * The directive state machine (sql/000003_directives.sql): draft -> active (start) <-> paused;
 * active -> idle automatically and back on new work; idle -> paused; any -> archived, which is final.
 * Every legal move, every illegal one with its message and code, through the transition functions
 * and through a DBA's direct UPDATE (the _200_guard trigger), for every pair of statuses.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { createDirective, createOwner, createTask, directive, runStep } from "../helpers/fixtures";
import { andUndo, eventsOf, jobCount, orList, q, setup, startStep, task, transitionMatrix, writesNothing } from "./support";

const db = useTestDatabase();

type Status = "draft" | "active" | "paused" | "idle" | "archived";

/** A directive in the given status, reached through the public functions. */
async function directiveIn(c: PoolClient, status: Status): Promise<string> {
  const { d, s } = await setup(c, [{ name: "only" }], { start: status !== "draft" });
  if (status === "paused") await c.query("select baton.pause_directive($1)", [d.id]);
  if (status === "idle") await runStep(c, s.only!.id);
  if (status === "archived") await c.query("select baton.archive_directive($1)", [d.id]);
  assert.equal((await directive(c, d.id)).status, status);
  return d.id;
}

const call = (c: PoolClient, fn: string, id: string) => c.query<{ status: string }>(`select * from baton.${fn}($1)`, [id]);

describe("start_directive", () => {
  it("starts a draft: it becomes active and stamps started_at", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "draft");
      const r = (await call(c, "start_directive", id)).rows[0]!;
      assert.equal(r.status, "active");
      assert.ok((await q<{ started_at: Date }>(c, "select started_at from baton.directives where id = $1", [id])).started_at);
    }));

  it("resumes a paused directive and keeps the first started_at", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "paused");
      await c.query("update baton.directives set started_at = '2000-01-01' where id = $1", [id]);
      assert.equal((await call(c, "start_directive", id)).rows[0]!.status, "active");
      const r = await q<{ started_at: Date }>(c, "select started_at from baton.directives where id = $1", [id]);
      assert.equal(r.started_at.toISOString(), "2000-01-01T00:00:00.000Z");
    }));

  it("returns the directive as it ends up: resuming one with nothing left to do returns it idle", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      const t = await startStep(c, s.a!.id);
      await c.query("select baton.pause_directive($1)", [d.id]);
      await c.query("select baton.report_task_status($1, 'completed')", [t.id]);
      assert.equal((await directive(c, d.id)).status, "paused", "a paused directive does not go idle");
      const r = (await call(c, "start_directive", d.id)).rows[0]!;
      assert.equal(r.status, "idle");
      assert.equal((await directive(c, d.id)).status, "idle");
    }));

  it("creates a directive already active with start => true", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      const d = await createDirective(c, owner, { start: true });
      assert.equal(d.status, "active");
    }));

  for (const status of ["active", "idle", "archived"] as const) {
    it(`refuses to start an ${status} directive (BTSTS)`, () =>
      withRootDb(db, async (c) => {
        const id = await directiveIn(c, status);
        const e = await assertDbError(
          writesNothing(c, () => call(c, "start_directive", id)),
          "BTSTS",
          `Directive ${id} is ${status}, so it cannot be started; only draft or paused directives can.`,
        );
        assert.equal((e as { detail?: string }).detail, `from=${status} to=active allowed={draft,paused}`);
      }));
  }

  it("says archiving is final when asked to start an archived directive", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "archived");
      const e = await assertDbError(call(c, "start_directive", id), "BTSTS", /is archived/);
      assert.equal((e as { hint?: string }).hint, "Archiving is final; create a new directive instead.");
    }));

  it("refuses an unknown directive (BTNFD)", () =>
    withRootDb(db, async (c) => {
      const ghost = "00000000-0000-4000-8000-00000000000a";
      const e = await assertDbError(call(c, "start_directive", ghost), "BTNFD", `Directive ${ghost} does not exist.`);
      assert.equal((e as { hint?: string }).hint, "List your directives with `baton directive list`.");
    }));

  it("treats steps added before the first start as the plan for the current goal", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a" }], { start: false });
      assert.equal((await directive(c, d.id)).planned_revision, null);
      await call(c, "start_directive", d.id);
      assert.equal((await directive(c, d.id)).planned_revision, 1);
      assert.equal(await jobCount(c, "plan_directive"), 0);
    }));
});

describe("pause_directive", () => {
  it("pauses an active directive, saying it was by hand; resuming clears the reason", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "active");
      assert.equal((await call(c, "pause_directive", id)).rows[0]!.status, "paused");
      const reason = async () => (await q<{ paused_reason: string | null }>(c, "select paused_reason from baton.directives where id = $1", [id])).paused_reason;
      assert.equal(await reason(), "Paused by hand.");
      await call(c, "start_directive", id);
      assert.equal(await reason(), null);
    }));

  it("says why for a DBA's direct UPDATE too, and keeps a reason the writer gave", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "active");
      await c.query("update baton.directives set status = 'paused' where id = $1", [id]);
      assert.equal((await q<{ paused_reason: string }>(c, "select paused_reason from baton.directives where id = $1", [id])).paused_reason, "Paused by hand.");
      await c.query("update baton.directives set status = 'active' where id = $1", [id]);
      await c.query("update baton.directives set status = 'paused', paused_reason = 'Maintenance window until 18:00.' where id = $1", [id]);
      assert.equal((await q<{ paused_reason: string }>(c, "select paused_reason from baton.directives where id = $1", [id])).paused_reason, "Maintenance window until 18:00.");
    }));

  it("pauses an idle directive, which then stays paused when steps are added", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "idle");
      assert.equal((await call(c, "pause_directive", id)).rows[0]!.status, "paused");
      await c.query("select baton.add_step($1, 'more')", [id]);
      assert.equal((await directive(c, id)).status, "paused");
    }));

  it("lets running tasks of a paused directive finish", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      const t = await startStep(c, s.a!.id);
      await call(c, "pause_directive", d.id);
      assert.equal((await task(c, t.id)).status, "running");
      await c.query("select baton.report_task_status($1, 'completed')", [t.id]);
      assert.equal((await task(c, t.id)).status, "completed");
    }));

  for (const status of ["draft", "paused", "archived"] as const) {
    it(`refuses to pause a ${status} directive (BTSTS)`, () =>
      withRootDb(db, async (c) => {
        const id = await directiveIn(c, status);
        await assertDbError(
          writesNothing(c, () => call(c, "pause_directive", id)),
          "BTSTS",
          `Directive ${id} is ${status}, so it cannot be paused; only active or idle directives can.`,
        );
      }));
  }
});

describe("archive_directive", () => {
  it("archives a directive from draft, active, paused and idle, stamping archived_at", () =>
    withRootDb(db, async (c) => {
      for (const status of ["draft", "active", "paused", "idle"] as const) {
        await andUndo(c, async () => {
          const id = await directiveIn(c, status);
          assert.equal((await call(c, "archive_directive", id)).rows[0]!.status, "archived");
          assert.ok((await q<{ archived_at: Date }>(c, "select archived_at from baton.directives where id = $1", [id])).archived_at);
          assert.deepEqual((await eventsOf(c, id)).at(-1), { kind: "status_changed", from_status: status, to_status: "archived", detail: null });
        });
      }
    }));

  it("refuses to archive an archived directive (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "archived");
      await assertDbError(
        writesNothing(c, () => call(c, "archive_directive", id)),
        "BTSTS",
        `Directive ${id} is archived, so it cannot be archived; only draft, active, paused or idle directives can.`,
      );
    }));

  it("cancels pending tasks and interrupts running ones, and dispatches nothing more", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }, { name: "b" }]);
      const pending = await createTask(c, s.a!.id);
      const running = await startStep(c, s.b!.id);
      const jobsBefore = await jobCount(c, "dispatch_step");
      await call(c, "archive_directive", d.id);
      assert.deepEqual(
        { status: (await task(c, pending.id)).status, error: (await task(c, pending.id)).error },
        { status: "cancelled", error: "The directive was archived." },
      );
      assert.deepEqual(
        { status: (await task(c, running.id)).status, error: (await task(c, running.id)).error },
        { status: "interrupted", error: "The directive was archived." },
      );
      assert.equal(await jobCount(c, "dispatch_step"), jobsBefore, "steps given back by archiving are not dispatched");
    }));

  it("cancels the planner in flight without pausing the directive", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const planner = await q<{ id: string }>(c, "select * from baton.create_planning_task($1)", [d.id]);
      await call(c, "archive_directive", d.id);
      assert.equal((await task(c, planner.id)).status, "cancelled");
      const after = await directive(c, d.id);
      assert.equal(after.status, "archived");
      assert.equal(after.orchestrator_task_id, null);
    }));
});

describe("update_goal", () => {
  const update = (c: PoolClient, id: string, goal: string) => c.query<{ status: string; goal_revision: number }>("select * from baton.update_goal($1, $2)", [id, goal]);

  it("changes a draft's goal, keeps the previous one and records goal_updated, planning nothing yet", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "draft");
      const r = (await update(c, id, "A better goal")).rows[0]!;
      assert.equal(r.status, "draft");
      assert.equal(r.goal_revision, 2);
      const d = await q<{ goal: string; previous_goal: string }>(c, "select goal, previous_goal from baton.directives where id = $1", [id]);
      assert.deepEqual(d, { goal: "A better goal", previous_goal: "Build the demo" });
      assert.deepEqual((await eventsOf(c, id)).at(-1), { kind: "goal_updated", from_status: "draft", to_status: "draft", detail: { goal_revision: 2 } });
      assert.equal(await jobCount(c, "replan_directive"), 0);
      assert.equal(await jobCount(c, "plan_directive"), 0);
    }));

  it("keeps an active directive active and asks for a re-plan", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "active");
      assert.equal((await update(c, id, "More")).rows[0]!.status, "active");
      assert.equal(await jobCount(c, "replan_directive", `plan:${id}:2`), 1);
    }));

  it("keeps a paused directive paused, and re-plans it when resumed", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "paused");
      assert.equal((await update(c, id, "More")).rows[0]!.status, "paused");
      assert.equal(await jobCount(c, "replan_directive"), 0);
      await call(c, "start_directive", id);
      assert.equal(await jobCount(c, "replan_directive", `plan:${id}:2`), 1);
    }));

  it("wakes an idle directive up and asks for a re-plan", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "idle");
      assert.equal((await update(c, id, "More")).rows[0]!.status, "active");
      assert.equal(await jobCount(c, "replan_directive", `plan:${id}:2`), 1);
    }));

  it("refuses to update an archived directive's goal (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "archived");
      const e = await assertDbError(
        writesNothing(c, () => update(c, id, "More")),
        "BTSTS",
        `Directive ${id} is archived, so its goal cannot be updated; only draft, active, paused or idle directives can.`,
      );
      assert.equal((e as { hint?: string }).hint, "Create a new directive instead.");
    }));

  it("does nothing when the goal is unchanged", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "idle");
      const events = (await eventsOf(c, id)).length;
      const r = (await update(c, id, "Build the demo")).rows[0]!;
      assert.equal(r.goal_revision, 1);
      assert.equal(r.status, "idle");
      assert.equal((await eventsOf(c, id)).length, events);
    }));

  it("refuses an empty goal or one over 100 KB (BTINV), writing nothing", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "active");
      await assertDbError(writesNothing(c, () => update(c, id, "  ")), "BTINV", "The goal must not be empty.");
      await assertDbError(
        writesNothing(c, () => update(c, id, "g".repeat(102401))),
        "BTINV",
        "The goal is 102401 bytes; the limit is 102400 bytes.",
      );
      await update(c, id, "g".repeat(102400));
    }));
});

describe("create_directive", () => {
  const create = (c: PoolClient, owner: string, title: string, goal: string) =>
    c.query("select * from baton.create_directive(title => $1, goal => $2, owner_id => $3)", [title, goal, owner]);

  it("refuses an empty title, a title over 200 characters and a goal over 100 KB (BTINV)", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      await assertDbError(writesNothing(c, () => create(c, owner, " ", "g")), "BTINV", "The title must not be empty.");
      await assertDbError(writesNothing(c, () => create(c, owner, "t".repeat(201), "g")), "BTINV", "The title is 201 characters; the limit is 200.");
      await assertDbError(writesNothing(c, () => create(c, owner, "t", "")), "BTINV", "The goal must not be empty.");
      await assertDbError(
        writesNothing(c, () => create(c, owner, "t", "g".repeat(102401))),
        "BTINV",
        "The goal is 102401 bytes; the limit is 102400 bytes.",
      );
      await assertDbError(create(c, owner, "t", null as unknown as string), "BTINV", "The goal is required.");
    }));

  it("records a created event for the new draft", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "draft");
      assert.deepEqual((await eventsOf(c, id))[0], { kind: "created", from_status: null, to_status: "draft", detail: null });
    }));

  it("needs an owner when there is not exactly one (BTINV)", () =>
    withRootDb(db, async (c) => {
      await createOwner(c, "one");
      await createOwner(c, "two");
      await assertDbError(
        c.query("select * from baton.create_directive(title => 't', goal => 'g')"),
        "BTINV",
        "No owner given, and there is not exactly one owner to default to.",
      );
    }));
});

describe("a DBA's direct UPDATE of a directive's status", () => {
  const ALL: Status[] = ["draft", "active", "paused", "idle", "archived"];
  /** The machine as this test expects it (sql/000003_directives.sql's diagram). */
  const LEGAL: Record<Status, Status[]> = {
    draft: ["active", "archived"],
    active: ["paused", "idle", "archived"],
    paused: ["active", "archived"],
    idle: ["active", "paused", "archived"],
    archived: [],
  };
  const refusal = (id: string, from: Status, to: Status) =>
    from === "archived"
      ? `Directive ${id} is archived, so it cannot become ${to}; archiving is final.`
      : `Directive ${id} is ${from}, so it cannot become ${to}; from ${from} it can become ${orList(ALL.filter((x) => LEGAL[from].includes(x)))}.`;

  for (const from of ALL) {
    const pairs = transitionMatrix(ALL, LEGAL).filter((p) => p.from === from);
    it(`from ${from}: accepts ${LEGAL[from].join(", ") || "nothing"}; refuses ${pairs.filter((p) => !p.legal).map((p) => p.to).join(", ")} (BTSTS)`, () =>
      withRootDb(db, async (c) => {
        const id = await directiveIn(c, from);
        for (const { to, legal } of pairs) {
          if (legal) {
            await andUndo(c, async () => {
              await c.query("update baton.directives set status = $2 where id = $1", [id, to]);
              // Recorded as a transition (its effects may move it on: an idle directive made active goes idle again).
              const moved = (await eventsOf(c, id)).some((e) => e.from_status === from && e.to_status === to);
              assert.ok(moved, `${from} -> ${to} should be accepted`);
            });
          } else {
            const e = await assertDbError(
              writesNothing(c, () => c.query("update baton.directives set status = $2 where id = $1", [id, to])),
              "BTSTS",
              refusal(id, from, to),
            );
            assert.equal((e as { detail?: string }).detail, `from=${from} to=${to}`);
          }
        }
      }));
  }

  it("refuses the issue's example: an idle directive set back to draft", () =>
    withRootDb(db, async (c) => {
      const id = await directiveIn(c, "idle");
      await assertDbError(
        writesNothing(c, () => c.query("update baton.directives set status = 'draft' where id = $1", [id])),
        "BTSTS",
        `Directive ${id} is idle, so it cannot become draft; from idle it can become active, paused or archived.`,
      );
      assert.equal((await directive(c, id)).status, "idle");
    }));
});
