/*
 * Two owners share a server. Owner A (the local owner) tries to see and change owner B's rows through
 * every door the API has: queries, mutations, computed functions and subscriptions. Then, as root,
 * the test confirms B's rows exist and are unchanged, so it is not passing on empty tables.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { gql, gqlError, post, subscribe, token, useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { assertOnlyRefused, awaitSentinel, operationIds, recordingWsClient } from "../helpers/sentinel";

const db = useTestDatabase();

type BRows = { ownerId: string; directiveId: string; stepIds: string[]; taskId: string; daemonId: string; eventId: string };

describe("two owners through GraphQL", () => {
  const server = useTestServer(db, { worker: false });
  let a: string; // owner A's token
  let b: BRows;

  before(async () => {
    a = server.credentials.token;
    // Owner B builds up a directive with steps, a daemon, a running task with output, and events, all through the API.
    const ownerId = (await db.pool.query<{ id: string }>("select id from baton.create_owner('bob')")).rows[0]!.id;
    const bToken = token(server, { role: "baton_user", owner_id: ownerId });
    const daemonId = (await gql(server, `mutation { registerDaemon(input: { name: "bob-box" }) { result { rowId } } }`, {}, bToken)).registerDaemon.result.rowId;
    const directiveId = (await gql(server, `mutation { createDirective(input: { title: "B", goal: "Bob's goal" }) { result { rowId } } }`, {}, bToken)).createDirective
      .result.rowId;
    const steps = await gql(
      server,
      `mutation ($id: UUID!, $steps: JSON!) { batchAddSteps(input: { directiveId: $id, steps: $steps }) { result { rowId } } }`,
      { id: directiveId, steps: [{ key: "x", name: "x" }, { key: "y", name: "y", dependsOn: ["x"] }] },
      bToken,
    );
    const stepIds = steps.batchAddSteps.result.map((s: { rowId: string }) => s.rowId);
    await gql(server, `mutation ($id: UUID!) { startDirective(input: { directiveId: $id }) { result { status } } }`, { id: directiveId }, bToken);
    // The worker is off here: the dispatcher's step is done as root, so the task is B's daemon's at once.
    const taskId = (await db.pool.query<{ id: string }>("select id from baton.create_execution_task($1, 'do x')", [stepIds[0]])).rows[0]!.id;
    const bDaemon = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemonId }, bToken)).daemonToken;
    await gql(server, `mutation ($id: UUID!) { reportTaskStatus(input: { taskId: $id, status: "running" }) { result { status } } }`, { id: taskId }, bDaemon);
    await gql(server, `mutation ($id: UUID!) { appendTaskOutput(input: { taskId: $id, chunks: [{stream: "stdout", text: "secret of bob"}] }) { result { lastSeq } } }`, { id: taskId }, bDaemon);
    const eventId = (await db.pool.query<{ id: string }>("select id::text from baton.events where directive_id = $1 order by id limit 1", [directiveId])).rows[0]!.id;
    b = { ownerId, directiveId, stepIds, taskId, daemonId, eventId };
  });

  it("shows A none of B's rows in any collection or lookup", async () => {
    const data = await gql(
      server,
      `query ($d: UUID!, $s: UUID!, $t: UUID!, $dm: UUID!, $e: BigInt!, $o: UUID!) {
        owners { nodes { rowId } }
        directives { nodes { rowId } }
        directiveSteps { nodes { rowId } }
        stepDependencies { nodes { stepId } }
        tasks { nodes { rowId } }
        daemons { nodes { rowId } }
        events { nodes { rowId } }
        taskOutputs { nodes { text } }
        directiveProgresses { nodes { directiveId } }
        stepWaits { nodes { stepId } }
        directive(rowId: $d) { rowId }
        directiveStep(rowId: $s) { rowId }
        task(rowId: $t) { rowId }
        daemon(rowId: $dm) { rowId }
        event(rowId: $e) { rowId }
        owner(rowId: $o) { rowId }
        transactionEvents(directiveId: $d, firstEventId: $e) { nodes { rowId } }
      }`,
      { d: b.directiveId, s: b.stepIds[0], t: b.taskId, dm: b.daemonId, e: b.eventId, o: b.ownerId },
      a,
    );
    assert.deepEqual(data.owners.nodes, [{ rowId: server.credentials.owner_id }]);
    for (const key of ["directives", "directiveSteps", "stepDependencies", "tasks", "daemons", "events", "taskOutputs", "directiveProgresses", "stepWaits", "transactionEvents"]) {
      assert.deepEqual(data[key].nodes, [], `${key} is empty for A`);
    }
    for (const key of ["directive", "directiveStep", "task", "daemon", "event", "owner"]) assert.equal(data[key], null, `${key} lookup is null for A`);
    assert.doesNotMatch(JSON.stringify(data), /secret of bob/);
  });

  it("refuses A's mutations on B's directive, steps and daemon as if they did not exist (BTNFD)", async () => {
    const attempts: [string, Record<string, unknown>][] = [
      [`mutation ($d: UUID!) { startDirective(input: { directiveId: $d }) { result { status } } }`, { d: b.directiveId }],
      [`mutation ($d: UUID!) { pauseDirective(input: { directiveId: $d }) { result { status } } }`, { d: b.directiveId }],
      [`mutation ($d: UUID!) { archiveDirective(input: { directiveId: $d }) { result { status } } }`, { d: b.directiveId }],
      [`mutation ($d: UUID!) { updateGoal(input: { directiveId: $d, goal: "A's goal" }) { result { goal } } }`, { d: b.directiveId }],
      [`mutation ($d: UUID!) { addStep(input: { directiveId: $d, name: "evil" }) { result { rowId } } }`, { d: b.directiveId }],
      [`mutation ($d: UUID!) { batchAddSteps(input: { directiveId: $d, steps: [{name: "evil"}] }) { result { rowId } } }`, { d: b.directiveId }],
      [`mutation ($s: UUID!) { removeStep(input: { stepId: $s }) { clientMutationId } }`, { s: b.stepIds[1] }],
      [`mutation ($s: UUID!) { setStepDependencies(input: { stepId: $s, dependsOn: [] }) { clientMutationId } }`, { s: b.stepIds[1] }],
      [`mutation ($s: UUID!) { completeStep(input: { stepId: $s }) { result { status } } }`, { s: b.stepIds[0] }],
      [`mutation ($s: UUID!) { failStep(input: { stepId: $s }) { result { status } } }`, { s: b.stepIds[0] }],
      [`mutation ($s: UUID!) { skipStep(input: { stepId: $s }) { result { status } } }`, { s: b.stepIds[1] }],
      [`mutation ($s: UUID!) { retryStep(input: { stepId: $s }) { result { status } } }`, { s: b.stepIds[0] }],
      [`mutation ($dm: UUID!) { disconnectDaemon(input: { daemonId: $dm }) { result { status } } }`, { dm: b.daemonId }],
      [`query ($dm: UUID!) { daemonToken(daemonId: $dm) }`, { dm: b.daemonId }],
    ];
    for (const [query, variables] of attempts) {
      const error = await gqlError(server, query, variables, a);
      assert.equal(error.extensions?.code, "BTNFD", `${query}: ${error.message}`);
      assert.match(error.message, /does not exist/);
      assert.doesNotMatch(error.message, /bob/i);
    }
  });

  it("refuses to let A act as B or as B's daemon", async () => {
    const asB = await gqlError(server, `mutation ($o: UUID!) { createDirective(input: { title: "t", goal: "g", ownerId: $o }) { result { rowId } } }`, { o: b.ownerId }, a);
    assert.equal(asB.extensions?.code, "BTDNY");
    assert.match(asB.message, /cannot act for owner/);
    const daemonOnly = await gqlError(server, `mutation ($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "failed" }) { result { status } } }`, { t: b.taskId }, a);
    assert.equal(daemonOnly.extensions?.code, "42501");
    const output = await gqlError(server, `mutation ($t: UUID!) { appendTaskOutput(input: { taskId: $t, chunks: [] }) { result { lastSeq } } }`, { t: b.taskId }, a);
    assert.equal(output.extensions?.code, "42501");
  });

  it("refuses A's subscriptions to B's directive and daemon without delivering a payload", async () => {
    const { client, frames } = recordingWsClient(server, a);
    const EVENTS = `subscription ($d: UUID!) { directiveEvents(directiveId: $d) { firstEventId events { rowId } } }`;
    const events = subscribe(client, EVENTS, { d: b.directiveId });
    const commands = subscribe(client, `subscription ($dm: UUID!) { daemonCommands(daemonId: $dm) { type taskId } }`, { dm: b.daemonId });
    const [eventsError, commandsError] = (await Promise.all([events.error(), commands.error()])) as { message: string; extensions?: { code?: string } }[][];
    assert.equal(eventsError![0]!.extensions?.code, "BTNFD");
    assert.match(eventsError![0]!.message, new RegExp(`Directive ${b.directiveId} does not exist or is not yours`));
    assert.equal(commandsError![0]!.extensions?.code, "BTNFD");
    // The sentinel: A's own directive, subscribed on the same socket after the refused ones, and live.
    const own = (await gql(server, `mutation { createDirective(input: { title: "A's", goal: "A's goal" }) { result { rowId } } }`, {}, a)).createDirective.result.rowId;
    const sentinel = subscribe(client, EVENTS, { d: own });
    const lastEvent = async () => (await db.pool.query<{ id: string }>("select max(id)::text as id from baton.events where directive_id = $1", [own])).rows[0]!.id;
    const primed = await lastEvent();
    const isPrime = (p: any) => p?.directiveEvents?.firstEventId === primed;
    await awaitSentinel(sentinel, () => db.pool.query("select pg_notify($1, $2)", [`baton:directive:${own}`, JSON.stringify({ event_id: Number(primed), kind: "prime" })]), isPrime);
    // Something happens to B's directive and daemon; then to A's directive, which A must hear of.
    await db.pool.query("select baton.update_goal($1, 'Bob changes his goal')", [b.directiveId]);
    await db.pool.query("select pg_notify($1, $2)", [`baton:daemon:${b.daemonId}`, JSON.stringify({ type: "spawn_task", task_id: b.taskId })]);
    await awaitSentinel(
      sentinel,
      () => db.pool.query("select baton.update_goal($1, 'A changes her goal')", [own]),
      (p: any) => BigInt(p?.directiveEvents?.firstEventId ?? 0) > BigInt(primed),
      { ignore: isPrime, what: "A's own goal update" },
    );
    // By now anything sent about B's rows has arrived: nothing did, on the socket itself.
    assertOnlyRefused(frames, [...operationIds(frames, { d: b.directiveId }), ...operationIds(frames, { dm: b.daemonId })]);
    assert.deepEqual(events.pending(), []);
    assert.deepEqual(commands.pending(), []);
    sentinel.close();
  });

  it("has B's rows in the database, unchanged by A", async () => {
    const r = await db.pool.query(
      `select (select count(*)::int from baton.directives where owner_id = $1) as directives,
              (select count(*)::int from baton.directive_steps where owner_id = $1) as steps,
              (select count(*)::int from baton.step_dependencies where owner_id = $1) as dependencies,
              (select count(*)::int from baton.tasks where owner_id = $1) as tasks,
              (select count(*)::int from baton.daemons where owner_id = $1) as daemons,
              (select count(*)::int > 0 from baton.events where owner_id = $1) as has_events,
              (select string_agg(text, '') from baton.task_output where owner_id = $1) as output,
              (select status from baton.directives where id = $2) as status,
              (select status from baton.daemons where id = $3) as daemon_status,
              (select status from baton.tasks where id = $4) as task_status`,
      [b.ownerId, b.directiveId, b.daemonId, b.taskId],
    );
    assert.deepEqual(r.rows[0], {
      directives: 1,
      steps: 2,
      dependencies: 1,
      tasks: 1,
      daemons: 1,
      has_events: true,
      output: "secret of bob",
      status: "active",
      daemon_status: "connected",
      task_status: "running",
    });
  });

  it("lets B see its own rows (the queries above are not simply broken)", async () => {
    const bToken = token(server, { role: "baton_user", owner_id: b.ownerId });
    const r = await post(server, `{ directives { nodes { rowId goal } } tasks { nodes { rowId outputChunks { nodes { text } } } } }`, {}, bToken);
    assert.deepEqual(r.data.directives.nodes, [{ rowId: b.directiveId, goal: "Bob changes his goal" }]);
    assert.deepEqual(r.data.tasks.nodes, [{ rowId: b.taskId, outputChunks: { nodes: [{ text: "secret of bob" }] } }]);
  });
});
