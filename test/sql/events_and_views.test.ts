/*
 * The history and its signals: every status change of a directive, step or task appends one row to
 * baton.events, and each committed transaction NOTIFYs `baton:directive:<id>` once, with the id of its
 * first event. Daemons hear spawn_task/interrupt_task on `baton:daemon:<id>`. Then the two DBA views.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ClientBase, PoolClient } from "pg";
import { useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, createDirective, createOwner, createTask, diamond, report, runStep } from "../helpers/fixtures";
import { chain, createDaemon, eventsOf, q, setup, startStep } from "./support";

const db = useTestDatabase();
/** The file's pool, for committed one-statement calls through the fixtures. */
const pool = () => db.pool as unknown as ClientBase;

const call = (c: PoolClient, fn: string, id: string) => c.query(`select baton.${fn}($1)`, [id]);

describe("events", () => {
  it("records every status change of a directive, its step and the step's task, in order", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }]);
      const t = await startStep(c, s.a!.id);
      await report(c, t.id, "completed");
      const moves = async (id: string) => (await eventsOf(c, id)).map((e) => `${e.kind}:${e.from_status ?? ""}->${e.to_status ?? ""}`);
      assert.deepEqual(await moves(d.id), ["created:->draft", "status_changed:draft->active", "status_changed:active->idle"]);
      assert.deepEqual(await moves(s.a!.id), ["created:->pending", "status_changed:pending->ready", "status_changed:ready->running", "status_changed:running->completed"]);
      assert.deepEqual(await moves(t.id), ["created:->pending", "status_changed:pending->starting", "status_changed:starting->running", "status_changed:running->completed"]);
    }));

  it("puts the step's name and attempts, and the task's kind, step, daemon, attempt and error in the detail", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "build" }]);
      const t = await startStep(c, s.build!.id);
      await report(c, t.id, "failed", { error: "compiler exploded" });
      const stepEvent = (await eventsOf(c, s.build!.id)).find((e) => e.from_status === "ready" && e.to_status === "running")!;
      assert.deepEqual(stepEvent.detail, { name: "build", attempts: 1 });
      const taskEvent = (await eventsOf(c, t.id)).at(-1)!;
      assert.deepEqual(taskEvent.detail, { kind: "execution", step_id: s.build!.id, daemon_id: t.daemon_id, attempt: 1, error: "compiler exploded" });
    }));

  it("appends exactly one event per step that changes status, also in a fan-out", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ key: "root", name: "root" }, ...Array.from({ length: 20 }, (_, i) => ({ name: `m${i}`, dependsOn: ["root"] }))]);
      const before = (await q<{ n: number }>(c, "select count(*)::int as n from baton.events where directive_id = $1", [d.id])).n;
      await call(c, "complete_step", s.root!.id);
      const added = await c.query(
        "select subject_id, from_status, to_status from baton.events where directive_id = $1 order by id offset $2",
        [d.id, before],
      );
      assert.equal(added.rows.length, 21, "root completed + 20 ready");
      assert.equal(new Set(added.rows.map((r) => r.subject_id)).size, 21);
    }));

  it("records goal updates, dependency changes and removals as events of their own", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await c.query("select baton.update_goal($1, 'New goal')", [d.id]);
      await c.query("select baton.set_step_dependencies($1, '{}')", [s.b!.id]);
      await c.query("select baton.remove_step($1)", [s.a!.id]);
      const kinds = (await c.query("select kind from baton.events where directive_id = $1 and kind <> 'status_changed' and kind <> 'created' order by id", [d.id])).rows.map((r) => r.kind);
      assert.deepEqual(kinds, ["goal_updated", "dependencies_changed", "removed"]);
    }));

  it("records who made the change", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const me = (await q<{ u: string }>(c, "select session_user as u")).u;
      const actors = (await c.query("select distinct actor from baton.events where directive_id = $1", [d.id])).rows.map((r) => r.actor);
      assert.deepEqual(actors, [me]);
    }));
});

/*
 * NOTIFY needs commits, so these tests use the file's database directly with their own owners.
 * A listener collects what a channel hears until a fence (a NOTIFY sent after the transactions under
 * test have committed) arrives: notifications come in commit order, so everything before it is in.
 */
describe("notifications", () => {
  let listener: PoolClient;
  let owner: string;

  before(async () => {
    listener = await db.pool.connect();
    owner = await createOwner(pool(), `notify-${randomUUID().slice(0, 8)}`);
  });
  after(async () => {
    await listener.query("unlisten *");
    listener.release();
  });

  async function hear(channels: string[], fn: () => Promise<void>): Promise<Record<string, { event_id?: number; kind?: string; type?: string; task_id?: string }[]>> {
    const heard: Record<string, string[]> = Object.fromEntries(channels.map((ch) => [ch, []]));
    const fence = `fence-${randomUUID()}`;
    const onNotification = (m: { channel: string; payload?: string }) => heard[m.channel]?.push(m.payload ?? "");
    listener.on("notification", onNotification);
    try {
      for (const ch of channels) await listener.query(`listen "${ch}"`);
      await fn();
      for (const ch of channels) await db.pool.query("select pg_notify($1, $2)", [ch, fence]);
      for (let i = 0; i < 2000 && !channels.every((ch) => heard[ch]!.includes(fence)); i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(channels.every((ch) => heard[ch]!.includes(fence)), "the fence notification never arrived");
    } finally {
      listener.off("notification", onNotification);
      for (const ch of channels) await listener.query(`unlisten "${ch}"`);
    }
    return Object.fromEntries(Object.entries(heard).map(([ch, ps]) => [ch, ps.filter((p) => p !== fence).map((p) => JSON.parse(p))]));
  }

  /** Runs fn in a committed transaction on its own connection. */
  async function committed(fn: (c: PoolClient) => Promise<void>): Promise<void> {
    const c = await db.pool.connect();
    try {
      await c.query("begin");
      await fn(c);
      await c.query("commit");
    } catch (err) {
      await c.query("rollback").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  const lastEventId = async () => Number((await db.pool.query("select coalesce(max(id), 0) as id from baton.events")).rows[0].id);

  it("notifies baton:directive:<id> once per transaction, with the id and kind of its first event", async () => {
    const d = await createDirective(pool(), owner, { start: false });
    const s = await addSteps(pool(), d.id, diamond());
    const channel = `baton:directive:${d.id}`;
    const since = await lastEventId();
    const heard = await hear([channel], () =>
      committed(async (c) => {
        await call(c, "start_directive", d.id);
        await call(c, "complete_step", s.a!.id);
        await call(c, "skip_step", s.b!.id);
      }),
    );
    const first = (await db.pool.query("select id, kind from baton.events where directive_id = $1 and id > $2 order by id limit 1", [d.id, since])).rows[0];
    const count = (await db.pool.query("select count(*)::int as n from baton.events where directive_id = $1 and id > $2", [d.id, since])).rows[0].n;
    assert.equal(count, 5, "the transaction made five events: started, a completed, b and c ready, b skipped");
    assert.deepEqual(heard[channel], [{ event_id: Number(first.id), kind: first.kind }]);
  });

  it("notifies once for each committed transaction, and not for a rolled-back one", async () => {
    const d = await createDirective(pool(), owner, { start: false });
    const s = await addSteps(pool(), d.id, chain("a", "b"));
    const channel = `baton:directive:${d.id}`;
    const heard = await hear([channel], async () => {
      await committed(async (c) => void (await call(c, "start_directive", d.id)));
      const c = await db.pool.connect();
      try {
        await c.query("begin");
        await call(c, "complete_step", s.a!.id);
        await c.query("rollback");
      } finally {
        c.release();
      }
      await committed(async (c) => void (await runStep(c, s.a!.id)));
    });
    assert.equal(heard[channel]!.length, 2);
    assert.deepEqual(heard[channel]!.map((p) => p.kind), ["status_changed", "created"], "start changes the directive; running a step starts with a new task");
    assert.ok(heard[channel]![0]!.event_id! < heard[channel]![1]!.event_id!);
  });

  it("notifies each directive a transaction touches, once each", async () => {
    const d1 = await createDirective(pool(), owner, { start: false });
    const d2 = await createDirective(pool(), owner, { start: false });
    const [ch1, ch2] = [`baton:directive:${d1.id}`, `baton:directive:${d2.id}`];
    const heard = await hear([ch1, ch2], () =>
      committed(async (c) => {
        await addSteps(c, d1.id, [{ name: "x" }, { name: "y" }]);
        await addSteps(c, d2.id, [{ name: "z" }]);
        await call(c, "start_directive", d1.id);
        await call(c, "start_directive", d2.id);
      }),
    );
    assert.equal(heard[ch1]!.length, 1);
    assert.equal(heard[ch2]!.length, 1);
    assert.equal(heard[ch1]![0]!.kind, "created");
  });

  it("tells a daemon to spawn a task assigned to it, and to stop it when it is cancelled", async () => {
    const d = await createDirective(pool(), owner, { start: true });
    const s = await addSteps(pool(), d.id, [{ name: "work" }]);
    const daemon = await createDaemon(pool(), owner, { name: "listener" });
    const channel = `baton:daemon:${daemon}`;
    let taskId = "";
    const heard = await hear([channel], async () => {
      await committed(async (c) => {
        const t = await createTask(c, s.work!.id);
        assert.equal(t.daemon_id, daemon);
        taskId = t.id;
      });
      await committed(async (c) => void (await c.query("select baton.report_task_status($1, 'running')", [taskId])));
      await committed(async (c) => void (await c.query("select baton.skip_step($1)", [s.work!.id])));
    });
    assert.deepEqual(heard[channel], [
      { type: "spawn_task", task_id: taskId },
      { type: "interrupt_task", task_id: taskId },
    ]);
  });
});

describe("baton.directive_progress", () => {
  it("counts steps by status, the percentage done, running tasks and the last event", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [
        { key: "a", name: "a" },
        { key: "b", name: "b" },
        { key: "c", name: "c", dependsOn: ["a"] },
        { key: "dd", name: "dd", dependsOn: ["a", "b"] },
        { key: "e", name: "e" },
        { key: "f", name: "f", dependsOn: ["e"] },
        { key: "g", name: "g" },
        { key: "h", name: "h", dependsOn: ["dd"] },
      ]);
      await runStep(c, s.a!.id); // a completed, c ready
      await startStep(c, s.b!.id); // b running
      await call(c, "fail_step", s.e!.id); // f blocked
      await call(c, "skip_step", s.g!.id);
      const p = await q<Record<string, unknown>>(c, "select * from baton.directive_progress where directive_id = $1", [d.id]);
      assert.deepEqual(
        { ...p, last_event_at: undefined },
        {
          directive_id: d.id,
          owner_id: d.owner_id,
          title: "Demo",
          status: "active",
          total_steps: 8,
          pending_steps: 2,
          ready_steps: 1,
          running_steps: 1,
          completed_steps: 1,
          failed_steps: 1,
          skipped_steps: 1,
          blocked_steps: 1,
          percent_done: "25.0",
          running_tasks: 1,
          last_event: "status_changed: step skipped",
          last_event_at: undefined,
        },
      );
      assert.ok(p.last_event_at instanceof Date);
    }));

  it("shows a directive without steps at 0 percent", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [], { start: false });
      const p = await q<{ total_steps: number; percent_done: string; last_event: string }>(c, "select * from baton.directive_progress where directive_id = $1", [d.id]);
      assert.deepEqual({ total: p.total_steps, percent: p.percent_done, last: p.last_event }, { total: 0, percent: "0", last: "created: directive draft" });
    }));
});

describe("baton.step_waits", () => {
  it("lists, for each pending or blocked step, every dependency it still waits for", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [
        { key: "a", name: "a" },
        { key: "b", name: "b" },
        { key: "c", name: "c" },
        { key: "w", name: "w", dependsOn: ["a", "b", "c"] },
        { key: "e", name: "e" },
        { key: "f", name: "f", dependsOn: ["e"] },
        { key: "g", name: "g", dependsOn: ["f"] },
      ]);
      await runStep(c, s.a!.id);
      await startStep(c, s.b!.id);
      await call(c, "fail_step", s.e!.id);
      const rows = (
        await c.query("select step_name, step_status, waits_for_name, waits_for_status from baton.step_waits where directive_id = $1 order by 1, 3", [d.id])
      ).rows.map((r) => `${r.step_name} (${r.step_status}) waits for ${r.waits_for_name} (${r.waits_for_status})`);
      assert.deepEqual(rows, [
        "f (blocked) waits for e (failed)",
        "g (blocked) waits for f (blocked)",
        "w (pending) waits for b (running)",
        "w (pending) waits for c (ready)",
      ]);
    }));
});
