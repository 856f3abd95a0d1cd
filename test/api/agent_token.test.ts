/*
 * An agent token (a task's agentToken, handed to the agent as BATON_TOKEN) reads its own directive
 * and adds, removes and re-wires its steps, touches no other directive, and stops working when its
 * task ends.
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
    assert.equal(err.message, `This agent token is for directive ${directiveId}, so it cannot change directive ${otherDirectiveId}.`);
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
