/*
 * Integration in SQL (sql/000020_integration.sql): when the last step of a directive with a repository
 * settles and none failed, the state machine creates ONE integration task instead of going idle; the
 * directive goes idle only once that task completed, with its result recorded; a failed integration
 * is retried once, then pauses the directive; a re-plan integrates again; no repository, no
 * integration; and the transitions it adds are refused when illegal.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PoolClient } from "pg";
import { assertDbError, useTestDatabase, withRootDb } from "../helpers/db";
import { createOwner, createTask, diamond, runStep, type StepSpec } from "../helpers/fixtures";
import { chain, createDaemon, eventsOf, jobCount, q, writesNothing } from "./support";

const db = useTestDatabase();

type DirectiveRow = {
  id: string;
  status: string;
  owner_id: string;
  integration_due: boolean;
  integration_task_id: string | null;
  target_branch: string;
  on_complete_command: string | null;
  result_branch: string | null;
  result_commit: string | null;
  result_url: string | null;
  result_at: Date | null;
  check_command: string | null;
  paused_reason: string | null;
};
type TaskRow = { id: string; kind: string; status: string; attempt: number | null; step_id: string | null; daemon_id: string | null; check_command: string | null; error: string | null };

const directiveRow = (c: PoolClient, id: string) => q<DirectiveRow>(c, "select * from baton.directives where id = $1", [id]);
const integrations = async (c: PoolClient, id: string) =>
  // In creation order (one test transaction gives every row the same created_at): by their `created` event.
  (await c.query<TaskRow>(
    "select t.* from baton.tasks t where t.directive_id = $1 and t.kind = 'integration' order by (select min(e.id) from baton.events e where e.subject_id = t.id)",
    [id],
  )).rows;

/** A started directive with a repository (or without one: repo null) and these steps. */
async function started(c: PoolClient, steps: StepSpec[], opts: { repo?: string | null; check?: string; owner?: string } = {}) {
  const owner = opts.owner ?? (await createOwner(c));
  const d = await q<DirectiveRow>(c, "select * from baton.create_directive(title => 'Demo', goal => 'Build it', repo => $1, owner_id => $2, check_command => $3)", [
    opts.repo === undefined ? "/srv/git/demo.git" : opts.repo,
    owner,
    opts.check ?? null,
  ]);
  const rows = (await c.query<{ id: string; name: string }>("select id, name from baton.batch_add_steps($1, $2)", [d.id, JSON.stringify(steps)])).rows;
  await c.query("select baton.start_directive($1)", [d.id]);
  return { owner, d, s: Object.fromEntries(rows.map((r) => [r.name, r.id])) as Record<string, string> };
}

/** Runs a step to completion with a branch and commit, as a daemon reports it. */
async function complete(c: PoolClient, stepId: string) {
  const t = await createTask(c, stepId);
  await c.query("select baton.report_task_status(task_id => $1, status => 'completed', branch => $2, commit_sha => $3)", [t.id, `baton/x/${stepId.slice(0, 8)}`, stepId.replace(/-/g, "").slice(0, 12)]);
  return t.id;
}

/** Reports an integration task's outcome as its daemon would (a result with completed). */
async function finishIntegration(c: PoolClient, taskId: string, outcome: "completed" | "failed" | "interrupted", extra: { url?: string } = {}) {
  if (outcome === "completed") {
    return q<TaskRow>(c, "select * from baton.report_task_status(task_id => $1, status => 'completed', branch => 'baton/demo/result', commit_sha => 'c0ffee1234', result_url => $2)", [
      taskId,
      extra.url ?? null,
    ]);
  }
  return q<TaskRow>(c, "select * from baton.report_task_status(task_id => $1, status => $2, error => 'merge failed')", [taskId, outcome]);
}

describe("the integration task", () => {
  it("appears exactly once, when the last step of a diamond settles, and not before", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, diamond());
      await complete(c, s.a!);
      await complete(c, s.b!);
      await complete(c, s.c!);
      assert.deepEqual(await integrations(c, d.id), [], "d is still open");
      assert.equal((await directiveRow(c, d.id)).integration_due, true, "settled work waits for integration");
      await complete(c, s.d!);
      const [t, ...more] = await integrations(c, d.id);
      assert.deepEqual(more, []);
      assert.deepEqual([t!.kind, t!.status, t!.attempt, t!.step_id], ["integration", "pending", 1, null]);
      const row = await directiveRow(c, d.id);
      assert.deepEqual([row.status, row.integration_task_id, row.integration_due], ["active", t!.id, false]);
      assert.equal(await jobCount(c, "dispatch_task", `dispatch_task:${t!.id}`), 1, "it is dispatched like any task");
    }));

  it("is assigned to a daemon with room like any task, and stamped with the directive's check", () =>
    withRootDb(db, async (c) => {
      const { d, s, owner } = await started(c, chain("a"), { check: "npm test" });
      const daemon = await createDaemon(c, owner);
      await complete(c, s.a!);
      const [t] = await integrations(c, d.id);
      assert.equal(t!.check_command, "npm test");
      const assigned = await q<TaskRow>(c, "select * from baton.assign_task($1)", [t!.id]);
      assert.deepEqual([assigned.status, assigned.daemon_id], ["starting", daemon]);
    }));

  it("does not appear when a step failed for good: the directive goes idle with its failure, as before", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, [{ name: "a" }, { name: "b" }]);
      await complete(c, s.a!);
      await c.query("select baton.fail_step($1)", [s.b]);
      assert.deepEqual(await integrations(c, d.id), []);
      assert.equal((await directiveRow(c, d.id)).status, "idle");
    }));

  it("appears once the failed step is skipped: the idle directive wakes up to integrate", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, [{ name: "a" }, { name: "b" }]);
      await complete(c, s.a!);
      await c.query("select baton.fail_step($1)", [s.b]);
      await c.query("select baton.skip_step($1)", [s.b]);
      assert.equal((await directiveRow(c, d.id)).status, "active");
      assert.equal((await integrations(c, d.id)).length, 1);
    }));

  it("never appears for a directive without a repository: it goes idle directly", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, diamond(), { repo: null });
      for (const name of ["a", "b", "c", "d"]) await runStep(c, s[name]!);
      const row = await directiveRow(c, d.id);
      assert.deepEqual([row.status, row.integration_due, row.integration_task_id], ["idle", false, null]);
      assert.deepEqual(await integrations(c, d.id), []);
    }));
});

describe("going idle after integration", () => {
  it("stays active while the integration runs, and goes idle when it completes, with the result recorded", () =>
    withRootDb(db, async (c) => {
      const { d, s, owner } = await started(c, chain("a", "b"));
      await createDaemon(c, owner);
      await complete(c, s.a!);
      await complete(c, s.b!);
      const [t] = await integrations(c, d.id);
      await c.query("select baton.assign_task($1)", [t!.id]);
      await c.query("select baton.report_task_status($1, 'running')", [t!.id]);
      assert.equal((await directiveRow(c, d.id)).status, "active");
      await finishIntegration(c, t!.id, "completed", { url: "https://example.com/pr/1" });
      const row = await directiveRow(c, d.id);
      assert.deepEqual([row.status, row.integration_task_id, row.result_branch, row.result_commit, row.result_url], [
        "idle",
        null,
        "baton/demo/result",
        "c0ffee1234",
        "https://example.com/pr/1",
      ]);
      assert.ok(row.result_at);
      const events = (await eventsOf(c, d.id)).map((e) => (e.kind === "status_changed" ? `${e.from_status}->${e.to_status}` : e.kind));
      assert.deepEqual(events.slice(-2), ["integrated", "active->idle"]);
    }));

  it("refuses a completed report without the result branch and commit (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      const [t] = await integrations(c, d.id);
      await assertDbError(
        writesNothing(c, () => c.query("select baton.report_task_status($1, 'completed')", [t!.id])),
        "BTINV",
        `Task ${t!.id} is an integration, so it can be completed only with its result: report the result branch and its commit.`,
      );
    }));

  it("refuses a result URL on a task that is not an integration, and a URL that is not http(s) (BTINV)", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a", "b"));
      const t = await createTask(c, s.a!);
      await assertDbError(
        writesNothing(c, () => c.query("select baton.report_task_status(task_id => $1, status => 'running', result_url => 'https://x.test')", [t.id])),
        "BTINV",
        `Task ${t.id} is a execution task, so it has no result URL; only integration tasks report one.`,
      );
      await complete(c, s.a!);
      await complete(c, s.b!);
      const [i] = await integrations(c, d.id);
      await assertDbError(
        writesNothing(c, () => c.query("select baton.report_task_status(task_id => $1, status => 'completed', branch => 'r', commit_sha => 'abc', result_url => 'ftp://x')", [i!.id])),
        "BTINV",
        'The result URL must be one http:// or https:// URL of at most 2048 bytes; got "ftp://x".',
      );
    }));

  it("refuses to make the directive idle while its integration is in flight (BTSTS), whoever writes it", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      const [t] = await integrations(c, d.id);
      await assertDbError(
        writesNothing(c, () => c.query("update baton.directives set status = 'idle' where id = $1", [d.id])),
        "BTSTS",
        `Directive ${d.id} is integrating its result (task ${t!.id}), so it cannot become idle until that task ends.`,
      );
    }));

  it("keeps a finished integration final: a late report is ignored (BTSTL)", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      const [t] = await integrations(c, d.id);
      await finishIntegration(c, t!.id, "completed");
      await assertDbError(
        c.query("select baton.report_task_status($1, 'failed')", [t!.id]),
        "BTSTL",
        `Task ${t!.id} is already completed (version 2), so this late "failed" report was ignored.`,
      );
    }));

  it("allows one live integration per directive (unique index)", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      await c.query("savepoint dup");
      await assert.rejects(
        c.query("insert into baton.tasks (owner_id, directive_id, kind, attempt) select owner_id, id, 'integration', 9 from baton.directives where id = $1", [d.id]),
        /tasks_one_live_integration_per_directive/,
      );
      await c.query("rollback to savepoint dup");
    }));
});

describe("a failed integration", () => {
  it("is retried once as a new attempt, then pauses the directive with the task's error; resuming integrates again", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      const [first] = await integrations(c, d.id);
      await finishIntegration(c, first!.id, "failed");
      const [, second] = await integrations(c, d.id);
      assert.deepEqual([second!.attempt, second!.status], [2, "pending"]);
      assert.equal((await directiveRow(c, d.id)).status, "active");
      await finishIntegration(c, second!.id, "interrupted");
      const row = await directiveRow(c, d.id);
      assert.deepEqual([row.status, row.integration_task_id, row.integration_due, row.result_branch], ["paused", null, true, null]);
      assert.equal(row.paused_reason, `Its integration interrupted on attempt 2 of 2 (task ${second!.id}): merge failed.`);
      assert.equal((await integrations(c, d.id)).length, 2, "no third attempt");
      await c.query("select baton.start_directive($1)", [d.id]);
      const all = await integrations(c, d.id);
      assert.deepEqual(all.map((t) => [t.attempt, t.status]), [[1, "failed"], [2, "interrupted"], [1, "pending"]]);
      assert.equal((await directiveRow(c, d.id)).status, "active");
    }));

  it("cancelled by hand pauses the directive; with --retry it integrates again at once", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      const [first] = await integrations(c, d.id);
      await c.query("select baton.cancel_task($1)", [first!.id]);
      assert.equal((await directiveRow(c, d.id)).status, "paused");
      assert.equal((await directiveRow(c, d.id)).paused_reason, `Its integration cancelled on attempt 1 of 2 (task ${first!.id}): Cancelled by hand (baton task cancel).`);
      await c.query("select baton.start_directive($1)", [d.id]);
      const [, second] = await integrations(c, d.id);
      await c.query("select baton.cancel_task($1, true)", [second!.id]);
      const all = await integrations(c, d.id);
      assert.deepEqual(all.map((t) => [t.status, t.error]), [
        ["cancelled", "Cancelled by hand (baton task cancel)."],
        ["cancelled", "Cancelled by hand (baton task cancel --retry); it runs again."],
        ["pending", null],
      ]);
      assert.equal((await directiveRow(c, d.id)).status, "active");
    }));

  it("paused with --interrupt gets no retry while paused, and integrates again when resumed", () =>
    withRootDb(db, async (c) => {
      const { d, s, owner } = await started(c, chain("a"));
      await createDaemon(c, owner);
      await complete(c, s.a!);
      const [t] = await integrations(c, d.id);
      await c.query("select baton.assign_task($1)", [t!.id]);
      await c.query("select baton.pause_directive($1, true)", [d.id]);
      assert.deepEqual((await integrations(c, d.id)).map((x) => x.status), ["interrupted"]);
      assert.equal((await directiveRow(c, d.id)).integration_due, true);
      await c.query("select baton.start_directive($1)", [d.id]);
      assert.deepEqual((await integrations(c, d.id)).map((x) => [x.attempt, x.status]), [[1, "interrupted"], [1, "pending"]]);
    }));
});

describe("integrating again", () => {
  it("a re-plan that adds steps integrates again when they settle, replacing the result", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      const [first] = await integrations(c, d.id);
      await finishIntegration(c, first!.id, "completed");
      assert.equal((await directiveRow(c, d.id)).status, "idle");
      // A re-plan: the goal changes, the planner adds a step and completes.
      await c.query("select baton.update_goal($1, 'Build it better')", [d.id]);
      const planner = await q<{ id: string }>(c, "select * from baton.create_planning_task($1)", [d.id]);
      const [added] = (await c.query<{ id: string }>("select id from baton.batch_add_steps($1, $2)", [d.id, JSON.stringify([{ name: "more", dependsOn: [s.a] }])])).rows;
      await c.query("select baton.report_task_status($1, 'completed')", [planner.id]);
      assert.equal((await integrations(c, d.id)).length, 1, "nothing new settled yet");
      await complete(c, added!.id);
      const all = await integrations(c, d.id);
      assert.deepEqual(all.map((t) => t.status), ["completed", "pending"]);
      await c.query("select baton.report_task_status(task_id => $1, status => 'completed', branch => 'baton/demo/result', commit_sha => 'beef5678')", [all[1]!.id]);
      const row = await directiveRow(c, d.id);
      assert.deepEqual([row.status, row.result_commit], ["idle", "beef5678"]);
    }));

  it("a step settled while the integration runs gets another integration after it", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      const [first] = await integrations(c, d.id);
      const [late] = (await c.query<{ id: string }>("select id from baton.batch_add_steps($1, $2)", [d.id, JSON.stringify([{ name: "late" }])])).rows;
      await complete(c, late!.id);
      assert.equal((await integrations(c, d.id)).length, 1, "one integration in flight at a time");
      await finishIntegration(c, first!.id, "completed");
      const all = await integrations(c, d.id);
      assert.deepEqual(all.map((t) => t.status), ["completed", "pending"]);
      assert.equal((await directiveRow(c, d.id)).status, "active");
    }));

  it("a paused and resumed directive with nothing new goes idle at once", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, chain("a"));
      await complete(c, s.a!);
      const [t] = await integrations(c, d.id);
      await finishIntegration(c, t!.id, "completed");
      await c.query("select baton.pause_directive($1)", [d.id]);
      await c.query("select baton.start_directive($1)", [d.id]);
      assert.equal((await directiveRow(c, d.id)).status, "idle");
      assert.equal((await integrations(c, d.id)).length, 1);
    }));
});

describe("the sinks an integration merges", () => {
  const sinks = async (c: PoolClient, taskId: string) =>
    ((await q<{ w: { dependencies: { name: string }[] } }>(c, "select baton.tasks_workspace(t) as w from baton.tasks t where t.id = $1", [taskId])).w.dependencies).map((x) => x.name);

  it("are the diamond's last step only, with the result branch and the goal in the workspace", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, diamond());
      for (const name of ["a", "b", "c", "d"]) await complete(c, s[name]!);
      const [t] = await integrations(c, d.id);
      const w = (await q<{ w: Record<string, unknown> }>(c, "select baton.tasks_workspace(t) as w from baton.tasks t where t.id = $1", [t!.id])).w;
      assert.deepEqual(await sinks(c, t!.id), ["d"]);
      assert.equal(w.result_branch, `baton/${d.id.replace(/-/g, "").slice(0, 8)}/result`);
      assert.deepEqual([w.directive_goal, w.on_complete], ["Build it", null]);
    }));

  it("see through a skipped step: the steps it depends on stand for it", () =>
    withRootDb(db, async (c) => {
      const { d, s } = await started(c, [...chain("a", "b"), { name: "c" }]);
      await complete(c, s.a!);
      await c.query("select baton.skip_step($1)", [s.b]);
      await complete(c, s.c!);
      const [t] = await integrations(c, d.id);
      assert.deepEqual((await sinks(c, t!.id)).sort(), ["a", "c"]);
    }));
});

describe("the result options", () => {
  it("default to baton/<directive-short>/result and no on-complete command; create and the setters change them", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      const d = await q<DirectiveRow>(c, "select * from baton.create_directive(title => 't', goal => 'g', owner_id => $1)", [owner]);
      assert.deepEqual([d.target_branch, d.on_complete_command], [`baton/${d.id.replace(/-/g, "").slice(0, 8)}/result`, null]);
      const e = await q<DirectiveRow>(
        c,
        "select * from baton.create_directive(title => 't', goal => 'g', owner_id => $1, target_branch => 'feature/login', on_complete_command => 'gh pr create --fill')",
        [owner],
      );
      assert.deepEqual([e.target_branch, e.on_complete_command], ["feature/login", "gh pr create --fill"]);
      assert.equal((await q<DirectiveRow>(c, "select * from baton.set_directive_target_branch($1, null)", [e.id])).target_branch, `baton/${e.id.replace(/-/g, "").slice(0, 8)}/result`);
      assert.equal((await q<DirectiveRow>(c, "select * from baton.set_directive_on_complete($1, null)", [e.id])).on_complete_command, null);
    }));

  it("refuse a branch name git would refuse, and a blank on-complete command, naming what is wrong (BTINV)", () =>
    withRootDb(db, async (c) => {
      const owner = await createOwner(c);
      const d = await q<DirectiveRow>(c, "select * from baton.create_directive(title => 't', goal => 'g', owner_id => $1)", [owner]);
      for (const [name, why] of [
        ["has space", "it holds a space, a control character or one of ~ ^ : ? * [ \\"],
        ["a..b", 'it holds ".."'],
        ["-x", 'it starts with "-" or "/"'],
        ["x/", 'it ends with "/" or "."'],
        ["x.lock", 'a part of it ends with ".lock"'],
      ] as const) {
        await assertDbError(
          writesNothing(c, () => c.query("select baton.set_directive_target_branch($1, $2)", [d.id, name])),
          "BTINV",
          `The target branch "${name}" is not a valid git branch name: ${why}.`,
        );
      }
      await assertDbError(
        writesNothing(c, () => c.query("select baton.set_directive_on_complete($1, '  ')", [d.id])),
        "BTINV",
        'The on-complete command is empty; give a shell command such as "gh pr create --fill --head \\"$BATON_RESULT_BRANCH\\"", or leave it out.',
      );
    }));
});
