/*
 * An owner's whole journey through GraphQL alone: the owner creates and starts a directive, a daemon
 * registered through the API receives its tasks over daemonCommands (with the agent token), the agent
 * token plans the steps, the daemon streams output and reports every task, and directiveEvents
 * delivers every event of the directive until it is idle.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gql, primeDaemonCommands, primeDirectiveEvents, startTestServer, subscribe, wsClient, type Subscription, type TestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

type Command = {
  daemonCommands: {
    type: string;
    taskId: string;
    task: { rowId: string; kind: string; status: string; directiveId: string; stepId: string | null; prompt: string | null; agentToken: string | null } | null;
  };
};
type EventRow = { rowId: string; kind: string; subjectType: string; subjectId: string; fromStatus: string | null; toStatus: string | null; outputChunks: { stream: string; text: string }[] };
type Events = { directiveEvents: { firstEventId: string; kind: string; events: EventRow[] } };

const COMMANDS = `subscription ($daemonId: UUID!) {
  daemonCommands(daemonId: $daemonId) {
    type taskId
    task { rowId kind status directiveId stepId prompt agentToken }
  }
}`;
const EVENTS = `subscription ($directiveId: UUID!) {
  directiveEvents(directiveId: $directiveId) {
    firstEventId kind
    events { rowId kind subjectType subjectId fromStatus toStatus outputChunks { stream text } }
  }
}`;
const REPORT = `mutation ($taskId: UUID!, $status: String!) {
  reportTaskStatus(input: { taskId: $taskId, status: $status }) { result { rowId status } }
}`;
const OUTPUT = `mutation ($taskId: UUID!, $chunks: JSON!) {
  appendTaskOutput(input: { taskId: $taskId, chunks: $chunks }) { result { acceptedChunks totalBytes truncated lastSeq } }
}`;

/** The daemon's side: run one spawned task to completion, as `baton daemon run` would. */
async function runTask(server: TestServer, daemonToken: string, taskId: string, output: string): Promise<void> {
  await gql(server, REPORT, { taskId, status: "running" }, daemonToken);
  const receipt = await gql(server, OUTPUT, { taskId, chunks: [{ stream: "stdout", text: output }, { stream: "stderr", text: "warning: none" }] }, daemonToken);
  assert.equal(receipt.appendTaskOutput.result.acceptedChunks, 2);
  assert.equal(receipt.appendTaskOutput.result.truncated, false);
  await gql(server, REPORT, { taskId, status: "completed" }, daemonToken);
}

async function nextCommand(sub: Subscription<Command>): Promise<Command["daemonCommands"]> {
  for (;;) {
    const c = (await sub.next()).daemonCommands;
    if (c.type !== "ping") return c;
  }
}

describe("an owner's journey through GraphQL", () => {
  it("plans, dispatches and runs a directive to idle with a daemon and an agent token, streaming every event", async () => {
    const server = await startTestServer(db);
    const owner = server.credentials.token;

    // The owner registers a daemon and gets its token.
    const daemon = (await gql(server, `mutation { registerDaemon(input: { name: "laptop", maxTasks: 2 }) { result { rowId status maxTasks } } }`, {}, owner))
      .registerDaemon.result;
    assert.equal(daemon.status, "connected");
    const daemonToken: string = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemon.rowId }, owner)).daemonToken;
    assert.match(daemonToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const identity = (await gql(server, `{ currentIdentity }`, {}, daemonToken)).currentIdentity;
    assert.deepEqual(identity, { role: "baton_daemon", owner_id: server.credentials.owner_id, daemon_id: daemon.rowId });

    // The daemon listens for its commands over a websocket with its own token.
    const commands = subscribe<Command>(wsClient(server, daemonToken), COMMANDS, { daemonId: daemon.rowId });
    await primeDaemonCommands(db, commands, daemon.rowId);

    // The owner creates a directive, watches it, then starts it.
    const directive = (await gql(server, `mutation { createDirective(input: { title: "Demo", goal: "Build the demo" }) { result { rowId status } } }`, {}, owner))
      .createDirective.result;
    assert.equal(directive.status, "draft");
    const events = subscribe<Events>(wsClient(server, owner), EVENTS, { directiveId: directive.rowId });
    const primedThrough = await primeDirectiveEvents(db, events, directive.rowId);
    const started = await gql(server, `mutation ($id: UUID!) { startDirective(input: { directiveId: $id }) { result { status } } }`, { id: directive.rowId }, owner);
    assert.equal(started.startDirective.result.status, "active");

    // The planning task arrives with its agent token; the agent plans a diamond with that token.
    const planning = await nextCommand(commands);
    assert.equal(planning.type, "spawn_task");
    assert.equal(planning.task?.kind, "planning");
    assert.equal(planning.task?.directiveId, directive.rowId);
    assert.match(planning.task?.prompt ?? "", /batch-add-steps/);
    const agentToken = planning.task!.agentToken!;
    assert.ok(agentToken, "the daemon receives the task's agentToken");
    await gql(server, REPORT, { taskId: planning.taskId, status: "running" }, daemonToken);
    const steps = await gql(
      server,
      `mutation ($id: UUID!, $steps: JSON!) { batchAddSteps(input: { directiveId: $id, steps: $steps }) { result { rowId name status } } }`,
      {
        id: directive.rowId,
        steps: [
          { key: "a", name: "a" },
          { key: "b", name: "b", dependsOn: ["a"] },
          { key: "c", name: "c", dependsOn: ["a"] },
          { key: "d", name: "d", dependsOn: ["b", "c"] },
        ],
      },
      agentToken,
    );
    const stepNames = new Map<string, string>(steps.batchAddSteps.result.map((s: { rowId: string; name: string }) => [s.rowId, s.name]));
    assert.equal(stepNames.size, 4);
    const plannerOutput = await gql(server, OUTPUT, { taskId: planning.taskId, chunks: [{ stream: "stdout", text: "planned 4 steps\n" }] }, daemonToken);
    assert.equal(plannerOutput.appendTaskOutput.result.lastSeq, 1);
    await gql(server, REPORT, { taskId: planning.taskId, status: "completed" }, daemonToken);

    // The daemon runs every execution task it is sent, in dependency order.
    const order: string[] = [];
    while (order.length < 4) {
      const command = await nextCommand(commands);
      assert.equal(command.type, "spawn_task");
      assert.equal(command.task?.kind, "execution");
      assert.ok(command.task?.agentToken, "every spawned task carries its agent token");
      const name = stepNames.get(command.task!.stepId!)!;
      order.push(name);
      await runTask(server, daemonToken, command.taskId, `did ${name}\n`);
    }
    assert.equal(order[0], "a");
    assert.deepEqual(order.slice(1, 3).sort(), ["b", "c"]);
    assert.equal(order[3], "d");

    // directiveEvents delivered every event after priming, in order, ending with the directive idle.
    const received: EventRow[] = [];
    while (!received.some((e) => e.subjectType === "directive" && e.toStatus === "idle")) {
      const payload = (await events.next()).directiveEvents;
      assert.equal(payload.events[0]?.rowId, payload.firstEventId, "a payload starts with the event it was notified for");
      assert.deepEqual(payload.events.map((e) => e.rowId), [...payload.events.map((e) => e.rowId)].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));
      received.push(...payload.events.filter((e) => BigInt(e.rowId) > primedThrough));
    }
    const inDb = await db.pool.query<{ id: string }>("select e.id::text as id from baton.events e where e.directive_id = $1 and e.id > $2 order by e.id", [
      directive.rowId,
      primedThrough.toString(),
    ]);
    // Transactions commit in their own order, so ids may arrive out of order across payloads (never within one).
    const byId = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : 1);
    assert.deepEqual(received.map((e) => e.rowId).sort(byId), inDb.rows.map((r) => r.id), "every event, exactly once");
    const transitions = received.filter((e) => e.kind === "status_changed" && e.subjectType === "step").map((e) => `${stepNames.get(e.subjectId)}:${e.toStatus}`);
    for (const name of ["a", "b", "c", "d"]) {
      assert.deepEqual(transitions.filter((t) => t.startsWith(`${name}:`)), [`${name}:ready`, `${name}:running`, `${name}:completed`]);
    }
    const output = received.filter((e) => e.kind === "output").flatMap((e) => e.outputChunks.map((c) => `${c.stream}:${c.text}`));
    assert.equal(output.length, 1 + 4 * 2);
    assert.ok(output.includes("stdout:did d\n"));
    assert.equal(received.at(-1)?.toStatus, "idle");

    // Each execution task's ready_at is when its step became ready (the directive was already active).
    const readyAt = await db.pool.query<{ ok: boolean; n: number }>(
      `select bool_and(t.ready_at = s.ready_at and t.ready_at <= t.assigned_at) as ok, count(*)::int as n
         from baton.tasks t join baton.directive_steps s on s.id = t.step_id where t.directive_id = $1`,
      [directive.rowId],
    );
    assert.deepEqual(readyAt.rows[0], { ok: true, n: 4 });

    // The owner reads a task's output back per task.
    const readBack = await gql(
      server,
      `query ($id: UUID!) { task(rowId: $id) { status outputChunks(orderBy: SEQ_ASC) { nodes { seq stream text } } } }`,
      { id: planning.taskId },
      owner,
    );
    assert.deepEqual(readBack.task, { status: "completed", outputChunks: { nodes: [{ seq: 1, stream: "stdout", text: "planned 4 steps\n" }] } });
    commands.close();
    events.close();
  });
});
