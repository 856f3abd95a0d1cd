/*
 * The DAG stays a DAG of valid steps: batch_add_steps, add_step, set_step_dependencies and remove_step
 * reject bad input with a message that says what to fix, and a rejected call writes nothing (no step,
 * no edge, no event, no job).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { addSteps, createDirective, diamond, step, statuses } from "../helpers/fixtures";
import { chain, eventsOf, q, setup, startStep, task, writesNothing } from "./support";

const db = useTestDatabase();

const batch = (c: import("pg").PoolClient, directiveId: string, steps: unknown) =>
  c.query("select * from baton.batch_add_steps($1, $2::jsonb)", [directiveId, JSON.stringify(steps)]);

describe("batch_add_steps", () => {
  it("resolves forward references to keys of later entries", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const r = await batch(c, d.id, [
        { key: "d", name: "deploy", dependsOn: ["t", "b"] },
        { key: "t", name: "test", dependsOn: ["b"] },
        { key: "b", name: "build" },
      ]);
      assert.deepEqual(r.rows.map((s) => s.name), ["deploy", "test", "build"], "returned in input order");
      const [deploy, test, build] = r.rows;
      const edges = await c.query("select step_id, depends_on_step_id from baton.step_dependencies where directive_id = $1 order by 1, 2", [d.id]);
      assert.deepEqual(
        edges.rows.map((e) => [e.step_id, e.depends_on_step_id]).sort(),
        [[deploy.id, build.id], [deploy.id, test.id], [test.id, build.id]].sort(),
      );
      assert.deepEqual(await statuses(c, d.id), { deploy: "pending", test: "pending", build: "ready" });
      assert.equal((await step(c, deploy.id)).remaining_deps, 2);
    }));

  it("mixes keys of the batch with ids of existing steps, and a key wins over an id", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "old" }]);
      const r = await batch(c, d.id, [
        { key: "n", name: "new", dependsOn: [s.old!.id] },
        { name: "last", dependsOn: ["n", s.old!.id] },
      ]);
      assert.equal(r.rows[1].remaining_deps, 2);
      assert.equal(r.rows[0].remaining_deps, 1);
    }));

  it("accepts null for the optional fields", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const r = await batch(c, d.id, [{ key: null, name: "a", description: null, taskPlan: null, dependsOn: null, orderIndex: null }]);
      assert.equal(r.rows[0].status, "ready");
    }));

  it("ignores a dependency listed twice", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const r = await batch(c, d.id, [{ key: "a", name: "a" }, { name: "b", dependsOn: ["a", "a"] }]);
      assert.equal(r.rows[1].remaining_deps, 1);
    }));

  it("gives steps increasing order indexes after the existing ones unless told", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, [{ name: "a", orderIndex: 10 }]);
      const r = await batch(c, d.id, [{ name: "b" }, { name: "c", orderIndex: -5 }, { name: "e" }]);
      assert.deepEqual(r.rows.map((s) => s.order_index), [11, -5, 13]);
    }));

  it("refuses a cycle among keys, printing it with arrows, and writes nothing (BTCYC)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const e = await assertDbError(
        writesNothing(c, () => batch(c, d.id, [
          { key: "a", name: "A", dependsOn: ["c"] },
          { key: "b", name: "B", dependsOn: ["a"] },
          { key: "c", name: "C", dependsOn: ["b"] },
          { key: "x", name: "X" },
        ])),
        "BTCYC",
        "The batch has a dependency cycle: a → c → b → a (each depends on the next).",
      );
      assert.equal((e as { hint?: string }).hint, "Remove one of these dependencies so the steps form a DAG.");
    }));

  it("names steps without a key by their name in a cycle", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ key: "k1", name: "one", dependsOn: ["k2"] }, { key: "k2", name: "two", dependsOn: ["k1"] }])),
        "BTCYC",
        "The batch has a dependency cycle: k1 → k2 → k1 (each depends on the next).",
      );
    }));

  it("refuses a step that depends on itself by its key (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ name: "ok" }, { key: "me", name: "Narcissus", dependsOn: ["me"] }])),
        "BTINV",
        'Entry 2 ("Narcissus") depends on itself (key "me"); a step cannot depend on itself.',
      );
    }));

  it("refuses an unknown step id (BTNFD)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const ghost = "00000000-0000-4000-8000-000000000001";
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ name: "a" }, { name: "b", dependsOn: [ghost] }])),
        "BTNFD",
        `Entry 2 ("b") depends on "${ghost}", which is neither a key in this batch nor a step of directive ${d.id}.`,
      );
    }));

  it("refuses an unknown key (BTNFD)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ key: "a", name: "a", dependsOn: ["nope"] }])),
        "BTNFD",
        `Entry 1 ("a") depends on "nope", which is neither a key in this batch nor a step of directive ${d.id}.`,
      );
    }));

  it("refuses a step of another directive (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { owner, d } = await setup(c, []);
      const other = await createDirective(c, owner, { title: "Other" });
      const foreign = (await addSteps(c, other.id, [{ name: "theirs" }])).theirs!;
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ name: "mine", dependsOn: [foreign.id] }])),
        "BTINV",
        `Entry 1 ("mine") depends on step ${foreign.id}, which belongs to another directive (${other.id}); a step can only depend on steps of its own directive.`,
      );
    }));

  it("refuses duplicate keys, naming the entries (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ key: "a", name: "one" }, { key: "b", name: "two" }, { key: "a", name: "three" }])),
        "BTINV",
        'The key "a" is used by entries 1 and 3; keys must be unique within a batch.',
      );
    }));

  it("refuses an empty or blank name (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      for (const name of ["", "   "]) {
        await assertDbError(
          writesNothing(c, () => batch(c, d.id, [{ name: "fine" }, { name }])),
          "BTINV",
          "Entry 2 has a name of 0 characters; a name must be 1 to 200 characters.",
        );
      }
    }));

  it("refuses a name over 200 characters (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ name: "x".repeat(201) }])),
        "BTINV",
        "Entry 1 has a name of 201 characters; a name must be 1 to 200 characters.",
      );
      // 200 is fine.
      await batch(c, d.id, [{ name: "y".repeat(200) }]);
    }));

  it("refuses a taskPlan or description over 100 KB (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ name: "a" }, { name: "b", taskPlan: "p".repeat(102401) }])),
        "BTINV",
        "Entry 2 has a taskPlan of 102401 bytes; the limit is 102400 bytes (100 KB).",
      );
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ name: "a", description: "é".repeat(51201) }])),
        "BTINV",
        "Entry 1 has a description of 102402 bytes; the limit is 102400 bytes (100 KB).",
      );
      await batch(c, d.id, [{ name: "at the limit", taskPlan: "p".repeat(102400) }]);
    }));

  it("refuses an unknown field, naming it and the known ones (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ name: "a" }, { name: "b", depends_on: ["a"] }])),
        "BTINV",
        'Entry 2 has an unknown field "depends_on"; the fields are key, name, description, taskPlan, dependsOn, orderIndex, check, timeout and stall.',
      );
    }));

  it("refuses a batch that is not an array, or is empty (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, { name: "a" })),
        "BTINV",
        'The steps must be a JSON array of objects like [{"name": "Write tests"}]; got object.',
      );
      await assertDbError(writesNothing(c, () => batch(c, d.id, [])), "BTINV", "The batch is empty; give at least one step.");
      await assertDbError(
        writesNothing(c, () => c.query("select * from baton.batch_add_steps($1, null)", [d.id])),
        "BTINV",
        'The steps must be a JSON array of objects like [{"name": "Write tests"}]; got nothing.',
      );
    }));

  it("refuses malformed entries, naming the entry and the field (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      const cases: [unknown, string][] = [
        ["just a string", 'Entry 2 of the batch is not an object; each entry looks like {"name": "...", "dependsOn": ["..."]}.'],
        [{}, 'Entry 2 has an invalid "name": it must be a string of 1 to 200 characters.'],
        [{ name: 42 }, 'Entry 2 has an invalid "name": it must be a string of 1 to 200 characters.'],
        [{ name: null }, 'Entry 2 has an invalid "name": it must be a string of 1 to 200 characters.'],
        [{ name: "b", key: 7 }, 'Entry 2 has an invalid "key": it must be a string.'],
        [{ name: "b", description: ["x"] }, 'Entry 2 has an invalid "description": it must be a string.'],
        [{ name: "b", taskPlan: { a: 1 } }, 'Entry 2 has an invalid "taskPlan": it must be a string.'],
        [{ name: "b", dependsOn: "a" }, 'Entry 2 has an invalid "dependsOn": it must be an array of strings, each a step id or a key of this batch.'],
        [{ name: "b", dependsOn: ["a", 3] }, 'Entry 2 has an invalid "dependsOn": it must be an array of strings, each a step id or a key of this batch.'],
        [{ name: "b", orderIndex: 1.5 }, 'Entry 2 has an invalid "orderIndex": it must be an integer between -1000000000 and 1000000000.'],
        [{ name: "b", orderIndex: "1" }, 'Entry 2 has an invalid "orderIndex": it must be an integer between -1000000000 and 1000000000.'],
        [{ name: "b", orderIndex: 1e12 }, 'Entry 2 has an invalid "orderIndex": it must be an integer between -1000000000 and 1000000000.'],
        [{ name: "b", key: "" }, "Entry 2 has an empty or overlong key; a key must be 1 to 200 characters."],
      ];
      for (const [entry, message] of cases) {
        await assertDbError(writesNothing(c, () => batch(c, d.id, [{ key: "a", name: "a" }, entry])), "BTINV", message);
      }
    }));

  it("refuses steps for an archived directive (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await c.query("select baton.archive_directive($1)", [d.id]);
      await assertDbError(
        writesNothing(c, () => batch(c, d.id, [{ name: "late" }])),
        "BTSTS",
        `Directive ${d.id} is archived, so steps cannot be added to it.`,
      );
    }));

  it("refuses an unknown directive (BTNFD)", () =>
    withRootDb(db, async (c) => {
      const ghost = "00000000-0000-4000-8000-000000000002";
      await assertDbError(writesNothing(c, () => batch(c, ghost, [{ name: "a" }])), "BTNFD", `Directive ${ghost} does not exist.`);
    }));
});

describe("add_step", () => {
  it("adds one step that depends on existing steps, and returns it", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ name: "a" }, { name: "b" }]);
      const r = await q<{ id: string; name: string; status: string; remaining_deps: number; task_plan: string }>(
        c,
        "select * from baton.add_step($1, 'c', task_plan => 'do it', depends_on => $2)",
        [d.id, [s.a!.id, s.b!.id]],
      );
      assert.equal(r.name, "c");
      assert.equal(r.status, "pending");
      assert.equal(r.remaining_deps, 2);
      assert.equal(r.task_plan, "do it");
    }));

  it("refuses an empty name with the batch's message (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d } = await setup(c, []);
      await assertDbError(
        writesNothing(c, () => c.query("select * from baton.add_step($1, '')", [d.id])),
        "BTINV",
        "Entry 1 has a name of 0 characters; a name must be 1 to 200 characters.",
      );
    }));
});

describe("set_step_dependencies", () => {
  it("refuses a dependency that would create a cycle, printing the path (BTCYC)", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, chain("a", "b", "c"));
      const short = (id: string) => id.slice(0, 8);
      const [a, b, cc] = [s.a!.id, s.b!.id, s.c!.id];
      await assertDbError(
        writesNothing(c, () => c.query("select baton.set_step_dependencies($1, $2)", [a, [cc]])),
        "BTCYC",
        `That dependency would create a cycle: a (${short(a)}) → c (${short(cc)}) → b (${short(b)}) → a (${short(a)}) (each depends on the next).`,
      );
    }));

  it("finds a cycle through a diamond and prints one path", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, diamond());
      const e = await assertDbError(
        writesNothing(c, () => c.query("select baton.set_step_dependencies($1, $2)", [s.a!.id, [s.d!.id]])),
        "BTCYC",
        /^That dependency would create a cycle: a \(\w{8}\) → d \(\w{8}\) → [bc] \(\w{8}\) → a \(\w{8}\) \(each depends on the next\)\.$/,
      );
      assert.equal((e as { hint?: string }).hint, "Remove one of these dependencies so the steps form a DAG.");
    }));

  it("can be called twice in one transaction", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }, { name: "b" }, { name: "c" }]);
      await c.query("select baton.set_step_dependencies($1, $2)", [s.c!.id, [s.a!.id]]);
      await c.query("select baton.set_step_dependencies($1, $2)", [s.c!.id, [s.a!.id, s.b!.id]]);
      assert.equal((await step(c, s.c!.id)).remaining_deps, 2);
    }));

  it("refuses a step depending on itself (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      await assertDbError(
        writesNothing(c, () => c.query("select baton.set_step_dependencies($1, $2)", [s.a!.id, [s.a!.id]])),
        "BTINV",
        `Step ${s.a!.id} cannot depend on itself.`,
      );
    }));

  it("refuses an unknown step (BTNFD) and a step of another directive (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { owner, s } = await setup(c, [{ name: "a" }]);
      const ghost = "00000000-0000-4000-8000-000000000003";
      await assertDbError(
        writesNothing(c, () => c.query("select baton.set_step_dependencies($1, $2)", [s.a!.id, [ghost]])),
        "BTNFD",
        `Step ${ghost} does not exist.`,
      );
      const other = await setup(c, [{ name: "theirs" }], { owner });
      await assertDbError(
        writesNothing(c, () => c.query("select baton.set_step_dependencies($1, $2)", [s.a!.id, [other.s.theirs!.id]])),
        "BTINV",
        `Step ${other.s.theirs!.id} belongs to another directive (${other.d.id}); a step can only depend on steps of its own directive.`,
      );
      await assertDbError(
        writesNothing(c, () => c.query("select baton.set_step_dependencies($1, $2)", [ghost, [s.a!.id]])),
        "BTNFD",
        `Step ${ghost} does not exist.`,
      );
    }));

  it("refuses to re-wire a running step (BTSTS)", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }, { name: "b" }]);
      await startStep(c, s.a!.id);
      await assertDbError(
        writesNothing(c, () => c.query("select baton.set_step_dependencies($1, $2)", [s.a!.id, [s.b!.id]])),
        "BTSTS",
        `Step ${s.a!.id} is running, so its dependencies cannot be changed; only pending, ready or blocked steps without a task can.`,
      );
    }));

  it("replaces the dependencies and recounts: a ready step waits, a pending one becomes ready", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ key: "a", name: "a" }, { key: "b", name: "b" }, { name: "c", dependsOn: ["a"] }]);
      await c.query("select baton.set_step_dependencies($1, $2)", [s.b!.id, [s.a!.id]]);
      await c.query("select baton.set_step_dependencies($1, $2)", [s.c!.id, []]);
      assert.deepEqual(await statuses(c, d.id), { a: "ready", b: "pending", c: "ready" });
      assert.equal((await step(c, s.b!.id)).remaining_deps, 1);
      const events = await eventsOf(c, s.b!.id);
      assert.deepEqual(events.at(-1), { kind: "dependencies_changed", from_status: null, to_status: null, detail: { depends_on: [s.a!.id] } });
    }));

  it("blocks a step made to depend on a failed step, and its dependents with it", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [{ key: "f", name: "f" }, { key: "a", name: "a" }, { name: "b", dependsOn: ["a"] }]);
      await c.query("select baton.fail_step($1)", [s.f!.id]);
      await c.query("select baton.set_step_dependencies($1, $2)", [s.a!.id, [s.f!.id]]);
      assert.deepEqual(await statuses(c, d.id), { f: "failed", a: "blocked", b: "blocked" });
    }));
});

describe("remove_step", () => {
  it("refuses a step others depend on, listing them (BTDEP), and writes nothing", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, diamond());
      const e = await assertDbError(
        writesNothing(c, () => c.query("select baton.remove_step($1)", [s.a!.id])),
        "BTDEP",
        new RegExp(`^Step ${s.a!.id} \\("a"\\) cannot be removed: (${s.b!.id} \\("b"\\), ${s.c!.id} \\("c"\\)) depend on it\\.$`),
      );
      assert.match((e as { hint?: string }).hint!, /force => true/);
    }));

  it("with force re-wires the dependents onto the step's own dependencies", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, [
        { key: "x", name: "x" },
        { key: "y", name: "y" },
        { key: "m", name: "m", dependsOn: ["x", "y"] },
        { key: "p", name: "p", dependsOn: ["m", "x"] },
        { key: "q", name: "q", dependsOn: ["m"] },
      ]);
      await c.query("select baton.complete_step($1)", [s.x!.id]);
      await c.query("select baton.remove_step($1, force => true)", [s.m!.id]);
      const deps = async (id: string) =>
        (await c.query("select depends_on_step_id as id from baton.step_dependencies where step_id = $1 order by 1", [id])).rows.map((r) => r.id).sort();
      assert.deepEqual(await deps(s.p!.id), [s.x!.id, s.y!.id].sort());
      assert.deepEqual(await deps(s.q!.id), [s.x!.id, s.y!.id].sort());
      assert.equal((await step(c, s.p!.id)).remaining_deps, 1, "only y is unmet");
      assert.deepEqual(await statuses(c, d.id), { x: "completed", y: "ready", p: "pending", q: "pending" });
      await c.query("select baton.complete_step($1)", [s.y!.id]);
      assert.deepEqual(await statuses(c, d.id), { x: "completed", y: "completed", p: "ready", q: "ready" });
    }));

  it("with force makes a dependent of a root ready", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      await c.query("select baton.remove_step($1, force => true)", [s.a!.id]);
      assert.deepEqual(await statuses(c, d.id), { b: "ready" });
    }));

  it("removes a leaf, records a removed event and updates the open-step count", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await setup(c, chain("a", "b"));
      assert.equal((await q<{ open_steps: number }>(c, "select open_steps from baton.directives where id = $1", [d.id])).open_steps, 2);
      const r = await q<{ id: string; name: string }>(c, "select * from baton.remove_step($1)", [s.b!.id]);
      assert.equal(r.id, s.b!.id);
      assert.deepEqual(await statuses(c, d.id), { a: "ready" });
      assert.equal((await q<{ open_steps: number }>(c, "select open_steps from baton.directives where id = $1", [d.id])).open_steps, 1);
      assert.deepEqual((await eventsOf(c, s.b!.id)).at(-1), { kind: "removed", from_status: "pending", to_status: null, detail: { name: "b" } });
    }));

  it("cancels the waiting task of a removed step (a running step is refused: remove_step_guard.test.ts)", () =>
    withRootDb(db, async (c) => {
      const { s } = await setup(c, [{ name: "a" }]);
      const t = await q<{ id: string }>(c, "select id from baton.create_execution_task($1, 'p')", [s.a!.id]);
      await c.query("select baton.remove_step($1)", [s.a!.id]);
      const after = await task(c, t.id);
      assert.equal(after.status, "cancelled");
      assert.equal(after.error, "The step was removed.");
    }));

  it("refuses an unknown step (BTNFD)", () =>
    withRootDb(db, async (c) => {
      const ghost = "00000000-0000-4000-8000-000000000004";
      await assertDbError(
        writesNothing(c, () => c.query("select baton.remove_step($1)", [ghost])),
        "BTNFD",
        `Step ${ghost} does not exist.`,
      );
    }));
});
