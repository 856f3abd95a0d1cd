/*
 * Every transition a user can ask for through the API, from every state the machine refuses it in:
 * the answer is BTSTS (BTSTL for a late report on a finished task) with the message the user sees,
 * and nothing moves. The direct-UPDATE side of the same machines is in test/sql/*_transitions.test.ts.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { gql, gqlError, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

type DirectiveStatus = "draft" | "active" | "paused" | "idle" | "archived";
type StepStatus = "pending" | "ready" | "running" | "completed" | "failed" | "skipped" | "blocked";
type TaskStatus = "starting" | "running" | "completed" | "failed" | "interrupted" | "cancelled";

const FINAL_STEP = "Completed and skipped steps are final; add a new step (add-step) to do more.";
const ARCHIVED = "Archiving is final; create a new directive instead.";

describe("illegal transitions through the API", () => {
  const server = useTestServer(db, { worker: false });
  const owner = () => server.credentials.token;
  const one = async <T = { id: string }>(sql: string, params: unknown[] = []) => (await db.pool.query(sql, params)).rows[0] as T;
  const statusOf = async (table: string, id: string) => (await one<{ status: string }>(`select status from baton.${table} where id = $1`, [id])).status;

  const directives = {} as Record<DirectiveStatus, string>;
  const steps = {} as Record<StepStatus, string>;
  const tasks = {} as Record<TaskStatus, string>;
  let daemonToken: string;

  /** A started directive with a chain a -> b, as the owner of the server's credentials. */
  async function chain(title: string): Promise<{ d: string; a: string; b: string }> {
    const d = (await one("select id from baton.create_directive($1, 'goal', owner_id => $2)", [title, server.credentials.owner_id])).id;
    const r = await db.pool.query<{ id: string }>(`select id from baton.batch_add_steps($1, '[{"key": "a", "name": "a"}, {"name": "b", "dependsOn": ["a"]}]')`, [d]);
    await db.pool.query("select baton.start_directive($1)", [d]);
    return { d, a: r.rows[0]!.id, b: r.rows[1]!.id };
  }
  /** A task of a new chain's root, assigned to the daemon (it has room for all of them). */
  const newTask = async (title: string) => (await one("select id from baton.create_execution_task($1, 'p')", [(await chain(title)).a])).id;

  before(async () => {
    const daemonId = (await one("select id from baton.register_daemon('d', max_tasks => 100, owner_id => $1)", [server.credentials.owner_id])).id;
    daemonToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemonId }, owner())).daemonToken;

    for (const status of ["draft", "active", "paused", "idle", "archived"] as DirectiveStatus[]) {
      const d = (await one("select id from baton.create_directive($1, 'goal', owner_id => $2)", [status, server.credentials.owner_id])).id;
      const s = (await one(`select id from baton.batch_add_steps($1, '[{"name": "only"}]')`, [d])).id;
      if (status !== "draft") await db.pool.query("select baton.start_directive($1)", [d]);
      if (status === "paused") await db.pool.query("select baton.pause_directive($1)", [d]);
      if (status === "idle") await db.pool.query("select baton.report_task_status((select id from baton.create_execution_task($1, 'p')), 'completed')", [s]);
      if (status === "archived") await db.pool.query("select baton.archive_directive($1)", [d]);
      assert.equal(await statusOf("directives", d), status);
      directives[status] = d;
    }

    for (const status of ["pending", "ready", "running", "completed", "failed", "skipped", "blocked"] as StepStatus[]) {
      const { a, b } = await chain(`step ${status}`);
      let id = a;
      if (status === "pending") id = b;
      if (status === "running") await db.pool.query("select baton.report_task_status((select id from baton.create_execution_task($1, 'p')), 'running')", [a]);
      if (status === "completed") await db.pool.query("select baton.complete_step($1)", [a]);
      if (status === "failed" || status === "blocked") await db.pool.query("select baton.fail_step($1)", [a]);
      if (status === "skipped") await db.pool.query("select baton.skip_step($1)", [a]);
      if (status === "blocked") id = b;
      assert.equal(await statusOf("directive_steps", id), status);
      steps[status] = id;
    }

    for (const status of ["starting", "running", "completed", "failed", "interrupted", "cancelled"] as TaskStatus[]) {
      const t = await newTask(`task ${status}`);
      if (status !== "starting") await db.pool.query("select baton.report_task_status($1, $2)", [t, status === "cancelled" ? "running" : status]);
      if (status === "cancelled") await db.pool.query("select baton.skip_step((select step_id from baton.tasks where id = $1))", [t]);
      assert.equal(await statusOf("tasks", t), status);
      tasks[status] = t;
    }
  });

  /** Asserts the refusal and that the subject did not move. */
  async function refused(query: string, vars: Record<string, unknown>, token: string, code: string, message: string, subject: [string, string]) {
    const before = await statusOf(...subject);
    const e = await gqlError(server, query, vars, token);
    assert.equal(e.extensions?.code, code, e.message);
    assert.equal(e.message, message);
    assert.equal(await statusOf(...subject), before, "a refused transition changes nothing");
  }

  const directiveCases: { op: string; verb: string; from: DirectiveStatus[]; only: string }[] = [
    { op: "startDirective", verb: "started", from: ["active", "idle", "archived"], only: "draft or paused" },
    { op: "pauseDirective", verb: "paused", from: ["draft", "paused", "archived"], only: "active or idle" },
    { op: "archiveDirective", verb: "archived", from: ["archived"], only: "draft, active, paused or idle" },
  ];
  for (const { op, verb, from, only } of directiveCases) {
    for (const status of from) {
      it(`${op} on a ${status} directive is refused (BTSTS)`, async () => {
        const id = directives[status];
        await refused(
          `mutation ($id: UUID!) { ${op}(input: { directiveId: $id }) { result { status } } }`,
          { id },
          owner(),
          "BTSTS",
          `Directive ${id} is ${status}, so it cannot be ${verb}; only ${only} directives can.${status === "archived" ? ` ${ARCHIVED}` : ""}`,
          ["directives", id],
        );
      });
    }
  }

  it("updateGoal on an archived directive is refused (BTSTS)", async () => {
    const id = directives.archived;
    await refused(
      `mutation ($id: UUID!) { updateGoal(input: { directiveId: $id, goal: "new" }) { result { status } } }`,
      { id },
      owner(),
      "BTSTS",
      `Directive ${id} is archived, so its goal cannot be updated; only draft, active, paused or idle directives can. Create a new directive instead.`,
      ["directives", id],
    );
  });

  // remove_step (000022): completed and running steps stay, for the owner too, and force (which re-wires dependents) does not override it.
  const REMOVE_HINT = {
    completed: () => "To change or undo its work, add a new step (it may depend on this one).",
    running: (id: string) => `Stop it first with \`baton directive fail-step ${id}\` (or skip-step), then remove it; or let it finish and add a new step.`,
  };
  for (const status of ["completed", "running"] as const) {
    for (const force of [false, true]) {
      it(`removeStep${force ? " with force" : ""} on a ${status} step is refused (BTSTS)`, async () => {
        const id = steps[status];
        await refused(
          `mutation ($id: UUID!, $force: Boolean) { removeStep(input: { stepId: $id, force: $force }) { result { rowId } } }`,
          { id, force },
          owner(),
          "BTSTS",
          `Step ${id} ("a") is ${status}, so it cannot be removed: completed and running steps stay. ${REMOVE_HINT[status](id)}`,
          ["directive_steps", id],
        );
      });
    }
  }

  const stepCases: { op: string; verb: string; from: StepStatus[]; only: string }[] = [
    { op: "completeStep", verb: "completed", from: ["completed", "skipped"], only: "pending, ready, running, failed, blocked" },
    { op: "failStep", verb: "failed", from: ["completed", "skipped", "failed"], only: "pending, ready, running, blocked" },
    { op: "skipStep", verb: "skipped", from: ["completed", "skipped"], only: "pending, ready, running, failed, blocked" },
  ];
  for (const { op, verb, from, only } of stepCases) {
    for (const status of from) {
      it(`${op} on a ${status} step is refused (BTSTS)`, async () => {
        const id = steps[status];
        await refused(
          `mutation ($id: UUID!) { ${op}(input: { stepId: $id }) { result { status } } }`,
          { id },
          owner(),
          "BTSTS",
          `Step ${id} is ${status}, so it cannot be ${verb}; only ${only} steps can. ${status === "failed" ? "Use retry-step to run it again." : FINAL_STEP}`,
          ["directive_steps", id],
        );
      });
    }
  }

  for (const status of ["pending", "ready", "running", "completed", "skipped"] as StepStatus[]) {
    it(`retryStep on a ${status} step is refused (BTSTS)`, async () => {
      const id = steps[status];
      await refused(
        `mutation ($id: UUID!) { retryStep(input: { stepId: $id }) { result { status } } }`,
        { id },
        owner(),
        "BTSTS",
        `Step ${id} is ${status}, so it cannot be retried; only failed or blocked steps can.`,
        ["directive_steps", id],
      );
    });
  }

  for (const status of ["running", "completed", "failed", "skipped"] as StepStatus[]) {
    it(`setStepDependencies on a ${status} step is refused (BTSTS)`, async () => {
      const id = steps[status];
      await refused(
        `mutation ($id: UUID!) { setStepDependencies(input: { stepId: $id, dependsOn: [] }) { result { status } } }`,
        { id },
        owner(),
        "BTSTS",
        `Step ${id} is ${status}, so its dependencies cannot be changed; only pending, ready or blocked steps without a task can.`,
        ["directive_steps", id],
      );
    });
  }

  const report = `mutation ($id: UUID!, $s: String!) { reportTaskStatus(input: { taskId: $id, status: $s }) { result { status } } }`;
  const backwards: [TaskStatus, string, string][] = [
    ["starting", "pending", "running, completed, failed, interrupted, cancelled"],
    ["running", "pending", "waiting, checking, completed, failed, interrupted, cancelled"],
    ["running", "starting", "waiting, checking, completed, failed, interrupted, cancelled"],
  ];
  for (const [from, to, allowed] of backwards) {
    it(`reportTaskStatus "${to}" on a ${from} task is refused (BTSTS)`, async () => {
      const id = tasks[from];
      await refused(report, { id, s: to }, daemonToken, "BTSTS", `Task ${id} is ${from}, so it cannot become ${to}; allowed from ${from} are ${allowed}.`, [
        "tasks",
        id,
      ]);
    });
  }

  for (const from of ["completed", "failed", "interrupted", "cancelled"] as TaskStatus[]) {
    it(`reportTaskStatus on a ${from} task is a late report (BTSTL)`, async () => {
      const id = tasks[from];
      const { version } = await one<{ version: number }>("select version from baton.tasks where id = $1", [id]);
      const to = from === "completed" ? "failed" : "completed";
      await refused(report, { id, s: to }, daemonToken, "BTSTL", `Task ${id} is already ${from} (version ${version}), so this late "${to}" report was ignored.`, [
        "tasks",
        id,
      ]);
    });
  }
});
