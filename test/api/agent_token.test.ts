/*
 * An agent token (a task's agentToken, handed to the agent as BATON_TOKEN) reads its own directive
 * and adds, removes and re-wires its steps, touches no other directive, and stops working when its
 * task ends. An execution agent only removes and re-wires the steps its task added, no agent removes
 * a completed or running step (sql/000008_step_functions.sql), and events name the agent's task and the daemon as actors.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { gql, gqlError, post, primeDirectiveEvents, subscribe, useTestServer, wsClient } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

const ADD = `mutation ($d: UUID!, $steps: JSON!) { batchAddSteps(input: { directiveId: $d, steps: $steps }) { result { rowId name } } }`;

describe("an agent token", () => {
  const server = useTestServer(db, { worker: false });
  let directiveId: string; // the agent's directive
  let otherDirectiveId: string; // the same owner's other directive
  let taskId: string;
  let daemonToken: string;
  let agentToken: string;

  before(async () => {
    const owner = server.credentials.owner_id;
    const daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('box', owner_id => $1)", [owner])).rows[0]!.id;
    directiveId = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Mine', 'goal', start => true, owner_id => $1)", [owner])).rows[0]!.id;
    otherDirectiveId = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Other', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    await db.pool.query("select baton.batch_add_steps($1, '[{\"name\": \"theirs\"}]')", [otherDirectiveId]);
    // The worker is off: the planning job's work is done as root; the task goes to the daemon at once.
    const task = (await db.pool.query<{ id: string; daemon_id: string }>("select id, daemon_id from baton.create_planning_task($1, 'plan it')", [directiveId])).rows[0]!;
    assert.equal(task.daemon_id, daemonId);
    taskId = task.id;
    daemonToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemonId }, server.credentials.token)).daemonToken;
    // The daemon reads the task and its agentToken, as it does when daemonCommands says spawn_task.
    agentToken = (await gql(server, `query ($t: UUID!) { task(rowId: $t) { agentToken } }`, { t: taskId }, daemonToken)).task.agentToken;
    await gql(server, `mutation ($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "running" }) { result { status } } }`, { t: taskId }, daemonToken);
  });

  it("is only given to the task's daemon", async () => {
    const asOwner = await gql(server, `query ($t: UUID!) { task(rowId: $t) { rowId agentToken } }`, { t: taskId }, server.credentials.token);
    assert.deepEqual(asOwner.task, { rowId: taskId, agentToken: null });
    const identity = (await gql(server, `{ currentIdentity }`, {}, agentToken)).currentIdentity;
    assert.deepEqual(identity, { role: "baton_agent", owner_id: server.credentials.owner_id, directive_id: directiveId, task_id: taskId });
  });

  it("reads its own directive and adds, re-wires and removes its steps", async () => {
    const read = await gql(server, `query ($d: UUID!) { directive(rowId: $d) { title } directives { nodes { rowId } } }`, { d: directiveId }, agentToken);
    assert.deepEqual(read, { directive: { title: "Mine" }, directives: { nodes: [{ rowId: directiveId }] } });
    const added = (await gql(server, ADD, { d: directiveId, steps: [{ key: "a", name: "a" }, { key: "b", name: "b", dependsOn: ["a"] }, { name: "c" }] }, agentToken))
      .batchAddSteps.result as { rowId: string; name: string }[];
    const id = Object.fromEntries(added.map((s) => [s.name, s.rowId]));
    await gql(server, `mutation ($s: UUID!, $deps: [UUID]) { setStepDependencies(input: { stepId: $s, dependsOn: $deps }) { clientMutationId } }`, { s: id.c, deps: [id.a] }, agentToken);
    await gql(server, `mutation ($s: UUID!) { removeStep(input: { stepId: $s }) { clientMutationId } }`, { s: id.b }, agentToken);
    const steps = await db.pool.query("select name from baton.directive_steps where directive_id = $1 order by name", [directiveId]);
    assert.deepEqual(steps.rows.map((r) => r.name), ["a", "c"]);
    const deps = await db.pool.query("select count(*)::int as n from baton.step_dependencies where step_id = $1 and depends_on_step_id = $2", [id.c, id.a]);
    assert.equal(deps.rows[0].n, 1);
  });

  it("cannot read or change another directive", async () => {
    const read = await gql(server, `query ($d: UUID!) { directive(rowId: $d) { title } directiveSteps { nodes { directiveId } } }`, { d: otherDirectiveId }, agentToken);
    assert.equal(read.directive, null);
    assert.ok(read.directiveSteps.nodes.every((s: { directiveId: string }) => s.directiveId === directiveId));
    const err = await gqlError(server, ADD, { d: otherDirectiveId, steps: [{ name: "intruder" }] }, agentToken);
    assert.equal(err.extensions?.code, "BTDNY");
    assert.equal(err.message, `This agent token is for directive ${directiveId}, so it cannot change another directive.`);
    const theirStep = (await db.pool.query<{ id: string }>("select id from baton.directive_steps where directive_id = $1", [otherDirectiveId])).rows[0]!.id;
    const removal = await gqlError(server, `mutation ($s: UUID!) { removeStep(input: { stepId: $s }) { clientMutationId } }`, { s: theirStep }, agentToken);
    assert.equal(removal.extensions?.code, "BTDNY");
    const sub = subscribe(wsClient(server, agentToken), `subscription ($d: UUID!) { directiveEvents(directiveId: $d) { kind } }`, { d: otherDirectiveId });
    const errors = (await sub.error()) as { extensions?: { code?: string } }[];
    assert.equal(errors[0]!.extensions?.code, "BTNFD");
    const other = await db.pool.query("select count(*)::int as n from baton.directive_steps where directive_id = $1", [otherDirectiveId]);
    assert.equal(other.rows[0].n, 1, "the other directive is untouched");
  });

  it("cannot do what an owner or a daemon does (permission denied)", async () => {
    for (const [query, variables] of [
      [`mutation ($d: UUID!) { startDirective(input: { directiveId: $d }) { result { status } } }`, { d: directiveId }],
      [`mutation ($d: UUID!) { updateGoal(input: { directiveId: $d, goal: "mine now" }) { result { status } } }`, { d: directiveId }],
      [`mutation ($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "completed" }) { result { status } } }`, { t: taskId }],
      [`mutation { registerDaemon(input: { name: "rogue" }) { result { rowId } } }`, {}],
    ] as const) {
      const err = await gqlError(server, query, variables, agentToken);
      assert.equal(err.extensions?.code, "42501", query);
    }
    const output = await gqlError(server, `mutation ($t: UUID!) { appendTaskOutput(input: { taskId: $t, chunks: [] }) { result { lastSeq } } }`, { t: taskId }, agentToken);
    assert.equal(output.extensions?.code, "42501");
  });

  it("stops working when its task ends", async () => {
    const events = subscribe(wsClient(server, agentToken), `subscription ($d: UUID!) { directiveEvents(directiveId: $d) { firstEventId events { kind } } }`, { d: directiveId });
    await primeDirectiveEvents(db, events, directiveId);
    await gql(server, `mutation ($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "completed" }) { result { status } } }`, { t: taskId }, daemonToken);
    const err = await gqlError(server, ADD, { d: directiveId, steps: [{ name: "too late" }] }, agentToken);
    assert.equal(err.extensions?.code, "BTDNY");
    assert.equal(err.message, `This agent token belonged to task ${taskId}, which has ended; agent tokens stop working when their task ends.`);
    const read = await gql(server, `query ($d: UUID!) { directive(rowId: $d) { title } directiveSteps { nodes { rowId } } }`, { d: directiveId }, agentToken);
    assert.deepEqual(read, { directive: null, directiveSteps: { nodes: [] } });
    // A subscription opened while the task was live delivers no event rows once it has ended.
    const payload = await events.next();
    assert.deepEqual(payload.directiveEvents.events, []);
    const again = subscribe(wsClient(server, agentToken), `subscription ($d: UUID!) { directiveEvents(directiveId: $d) { kind } }`, { d: directiveId });
    const errors = (await again.error()) as { extensions?: { code?: string } }[];
    assert.equal(errors[0]!.extensions?.code, "BTNFD");
    // The token itself is still well-formed, so it is not a 401: it simply no longer grants anything.
    const r = await post(server, `{ currentIdentity }`, {}, agentToken);
    assert.equal(r.status, 200);
  });
});

const REMOVE = `mutation ($s: UUID!, $force: Boolean) { removeStep(input: { stepId: $s, force: $force }) { result { rowId } } }`;
const SET_DEPS = `mutation ($s: UUID!, $deps: [UUID]) { setStepDependencies(input: { stepId: $s, dependsOn: $deps }) { result { rowId } } }`;

describe("an execution agent's token", () => {
  const server = useTestServer(db, { worker: false });
  let directiveId: string;
  let taskId: string;
  let daemonId: string;
  let agentToken: string;
  let step: Record<string, string>; // the owner's steps by name: work (the agent's, running), owned, later (depends on owned), done (completed)

  before(async () => {
    const owner = server.credentials.owner_id;
    daemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('runner', owner_id => $1)", [owner])).rows[0]!.id;
    directiveId = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Build', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    const added = await db.pool.query<{ id: string; name: string }>("select id, name from baton.batch_add_steps($1, $2)", [
      directiveId,
      JSON.stringify([{ name: "work" }, { key: "owned", name: "owned" }, { name: "later", dependsOn: ["owned"] }, { name: "done" }]),
    ]);
    step = Object.fromEntries(added.rows.map((r) => [r.name, r.id]));
    await db.pool.query("select baton.start_directive($1)", [directiveId]);
    await db.pool.query("select baton.complete_step($1)", [step.done]);
    // The worker is off: the dispatcher's work is done as root.
    let task = (await db.pool.query<{ id: string; status: string }>("select id, status from baton.create_execution_task($1, 'do it')", [step.work])).rows[0]!;
    if (task.status === "pending") task = (await db.pool.query("select id, status from baton.assign_task($1)", [task.id])).rows[0];
    taskId = task.id;
    const daemonToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemonId }, server.credentials.token)).daemonToken;
    agentToken = (await gql(server, `query ($t: UUID!) { task(rowId: $t) { agentToken } }`, { t: taskId }, daemonToken)).task.agentToken;
    await gql(server, `mutation ($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "running" }) { result { status } } }`, { t: taskId }, daemonToken);
  });

  const stepRows = async () =>
    (await db.pool.query("select id, name, status from baton.directive_steps where directive_id = $1 order by name", [directiveId])).rows;
  const edges = async () =>
    (await db.pool.query("select step_id, depends_on_step_id from baton.step_dependencies where directive_id = $1 order by 1, 2", [directiveId])).rows;

  it("adds steps, recorded as added by its task, and re-wires and removes them", async () => {
    const added = (await gql(server, ADD, { d: directiveId, steps: [{ key: "x", name: "x", dependsOn: [step.owned] }, { name: "y" }] }, agentToken))
      .batchAddSteps.result as { rowId: string; name: string }[];
    const mine = Object.fromEntries(added.map((s) => [s.name, s.rowId]));
    const read = await gql(server, `query ($s: UUID!) { directiveStep(rowId: $s) { addedByTaskId } }`, { s: mine.x }, agentToken);
    assert.equal(read.directiveStep.addedByTaskId, taskId);
    await gql(server, SET_DEPS, { s: mine.y, deps: [mine.x] }, agentToken);
    await gql(server, REMOVE, { s: mine.x, force: true }, agentToken);
    const deps = await db.pool.query("select depends_on_step_id as d from baton.step_dependencies where step_id = $1", [mine.y]);
    assert.deepEqual(deps.rows, [{ d: step.owned }], "y took over x's dependency");
    await gql(server, REMOVE, { s: mine.y }, agentToken);
  });

  it("cannot remove or re-wire a step it did not add (BTDNY)", async () => {
    const [steps, deps] = [await stepRows(), await edges()];
    const removal = await gqlError(server, REMOVE, { s: step.later }, agentToken);
    assert.equal(removal.extensions?.code, "BTDNY");
    assert.equal(removal.message, `Step ${step.later} ("later") was not added by this task, so an execution agent cannot remove it; ask the owner, or add a new step.`);
    const rewire = await gqlError(server, SET_DEPS, { s: step.later, deps: [] }, agentToken);
    assert.equal(rewire.extensions?.code, "BTDNY");
    assert.equal(rewire.message, `Step ${step.later} ("later") was not added by this task, so an execution agent cannot re-wire it; ask the owner, or add a new step.`);
    assert.deepEqual([await stepRows(), await edges()], [steps, deps], "nothing changed");
  });

  it("cannot remove the running step it works on, nor a completed step (BTSTS), and neither can the owner", async () => {
    const steps = await stepRows();
    const running = await gqlError(server, REMOVE, { s: step.work }, agentToken);
    assert.equal(running.extensions?.code, "BTSTS");
    assert.equal(
      running.message,
      `Step ${step.work} ("work") is running, so it cannot be removed: completed and running steps stay. Stop it first with \`baton directive fail-step ${step.work}\` (or skip-step), then remove it; or let it finish and add a new step.`,
    );
    const completed = await gqlError(server, REMOVE, { s: step.done }, agentToken);
    assert.equal(completed.extensions?.code, "BTSTS");
    assert.equal(
      completed.message,
      `Step ${step.done} ("done") is completed, so it cannot be removed: completed and running steps stay. To change or undo its work, add a new step (it may depend on this one).`,
    );
    const byOwner = await gqlError(server, REMOVE, { s: step.done }, server.credentials.token);
    assert.equal(byOwner.message, completed.message);
    assert.deepEqual(await stepRows(), steps, "nothing changed");
  });

  it("is named as the actor of the events it causes, and the daemon of its reports", async () => {
    const added = (await gql(server, ADD, { d: directiveId, steps: [{ name: "traced" }] }, agentToken)).batchAddSteps.result[0].rowId as string;
    const events = async (subjectId: string) =>
      (
        await gql(
          server,
          `query ($s: UUID!) { events(condition: { subjectId: $s }, orderBy: ROW_ID_ASC) { nodes { kind toStatus actor actorTaskId actorDaemonId } } }`,
          { s: subjectId },
          server.credentials.token,
        )
      ).events.nodes;
    assert.deepEqual(await events(added), [
      { kind: "created", toStatus: "pending", actor: "baton_agent", actorTaskId: taskId, actorDaemonId: null },
      { kind: "status_changed", toStatus: "ready", actor: "baton_agent", actorTaskId: taskId, actorDaemonId: null },
    ]);
    const running = (await events(taskId)).filter((e: { toStatus: string }) => e.toStatus === "running");
    assert.deepEqual(running, [{ kind: "status_changed", toStatus: "running", actor: "baton_daemon", actorTaskId: null, actorDaemonId: daemonId }]);
  });
});
