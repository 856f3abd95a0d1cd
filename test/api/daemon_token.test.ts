/*
 * A daemon token acts for its own daemon only: it heartbeats, reads, reports on and writes the output
 * of its own tasks, and cannot do any of it for another daemon (of the same owner or another), nor
 * anything an owner does. It lives an hour, is renewed with daemonToken, and dies when its daemon is
 * revoked or its owner rotates its tokens.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { gql, gqlError, subscribe, token, useTestServer, wsClient } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";

const db = useTestDatabase();

describe("a daemon token", () => {
  const server = useTestServer(db, { worker: false });
  let mine: { daemonId: string; token: string; taskId: string };
  let sibling: { daemonId: string; taskId: string }; // the same owner's other daemon
  let foreignDaemonId: string; // another owner's daemon
  let otherOwner: string;

  /** A task of the other owner, assigned to its daemon. */
  async function foreignTask(): Promise<string> {
    const d = (await db.pool.query<{ id: string }>("select id from baton.create_directive('F', 'goal', owner_id => $1)", [otherOwner])).rows[0]!.id;
    const s = (await db.pool.query<{ id: string }>("select id from baton.batch_add_steps($1, '[{\"name\": \"f\"}]')", [d])).rows[0]!.id;
    await db.pool.query("select baton.start_directive($1)", [d]);
    const t = (await db.pool.query<{ id: string; daemon_id: string }>("select id, daemon_id from baton.create_execution_task($1, 'p')", [s])).rows[0]!;
    assert.equal(t.daemon_id, foreignDaemonId);
    return t.id;
  }

  before(async () => {
    const owner = server.credentials.owner_id;
    const register = async (name: string) =>
      (await db.pool.query<{ id: string }>("select id from baton.register_daemon($1, owner_id => $2)", [name, owner])).rows[0]!.id;
    const d = (await db.pool.query<{ id: string }>("select id from baton.create_directive('D', 'goal', owner_id => $1)", [owner])).rows[0]!.id;
    const steps = (await db.pool.query<{ id: string }>("select id from baton.batch_add_steps($1, '[{\"name\": \"s1\"}, {\"name\": \"s2\"}]') order by name", [d])).rows;
    await db.pool.query("select baton.start_directive($1)", [d]);
    // Each new task goes to the only daemon with room at that moment.
    const siblingId = await register("sibling");
    const siblingTask = (await db.pool.query<{ id: string; daemon_id: string }>("select id, daemon_id from baton.create_execution_task($1, 'p')", [steps[0]!.id])).rows[0]!;
    assert.equal(siblingTask.daemon_id, siblingId);
    const mineId = await register("mine");
    const myTask = (await db.pool.query<{ id: string; daemon_id: string }>("select id, daemon_id from baton.create_execution_task($1, 'p')", [steps[1]!.id])).rows[0]!;
    assert.equal(myTask.daemon_id, mineId);
    otherOwner = (await db.pool.query<{ id: string }>("select id from baton.create_owner('other')")).rows[0]!.id;
    foreignDaemonId = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('foreign', owner_id => $1)", [otherOwner])).rows[0]!.id;
    const daemonToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: mineId }, server.credentials.token)).daemonToken;
    mine = { daemonId: mineId, token: daemonToken, taskId: myTask.id };
    sibling = { daemonId: siblingId, taskId: siblingTask.id };
  });

  it("heartbeats, reads, reports on and writes the output of its own task", async () => {
    const data = await gql(
      server,
      `mutation ($d: UUID!, $t: UUID!) {
        heartbeat(input: { daemonId: $d, activeTaskIds: [$t] }) { result { status } }
        reportTaskStatus(input: { taskId: $t, status: "running" }) { result { status } }
        appendTaskOutput(input: { taskId: $t, chunks: [{stream: "stdout", text: "hello"}] }) { result { lastSeq } }
      }`,
      { d: mine.daemonId, t: mine.taskId },
      mine.token,
    );
    assert.equal(data.heartbeat.result.status, "connected");
    assert.equal(data.reportTaskStatus.result.status, "running");
    assert.equal(data.appendTaskOutput.result.lastSeq, 1);
    const read = await gql(server, `{ tasks { nodes { rowId daemonId } } daemons { nodes { rowId } } }`, {}, mine.token);
    assert.deepEqual(read.tasks.nodes, [{ rowId: mine.taskId, daemonId: mine.daemonId }]);
    assert.deepEqual(read.daemons.nodes, [{ rowId: mine.daemonId }]);
  });

  it("finds the tasks assigned to it and not yet spawned, as a daemon does after reconnecting", async () => {
    const query = `query ($d: UUID!) { tasks(condition: { daemonId: $d, status: starting }) { nodes { rowId } } }`;
    const own = await gql(server, query, { d: mine.daemonId }, mine.token);
    const expected = await db.pool.query("select id as \"rowId\" from baton.tasks where daemon_id = $1 and status = 'starting'", [mine.daemonId]);
    assert.deepEqual(own.tasks.nodes, expected.rows);
    const sibling_ = await gql(server, query, { d: sibling.daemonId }, mine.token);
    assert.deepEqual(sibling_.tasks.nodes, [], "another daemon's starting task stays invisible");
    const asOwner = await gql(server, query, { d: sibling.daemonId }, server.credentials.token);
    assert.deepEqual(asOwner.tasks.nodes, [{ rowId: sibling.taskId }]);
  });

  it("renews its own token, and only its own", async () => {
    const renewed = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: mine.daemonId }, mine.token)).daemonToken;
    const claims = JSON.parse(Buffer.from(renewed.split(".")[1], "base64url").toString());
    assert.equal(claims.daemon_id, mine.daemonId);
    assert.equal(claims.gen, 0);
    // exp is minted in SQL, iat by the signer in the same request: an hour apart, give or take a second.
    assert.ok(Math.abs(claims.exp - claims.iat - 3600) <= 1, `a daemon token lasts an hour (exp ${claims.exp}, iat ${claims.iat})`);
    const err = await gqlError(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: sibling.daemonId }, mine.token);
    assert.equal(err.extensions?.code, "BTNFD");
  });

  it("cannot heartbeat or disconnect another daemon (BTDNY)", async () => {
    for (const other of [sibling.daemonId, foreignDaemonId]) {
      const hb = await gqlError(server, `mutation ($d: UUID!) { heartbeat(input: { daemonId: $d }) { result { status } } }`, { d: other }, mine.token);
      assert.equal(hb.extensions?.code, "BTDNY");
      assert.equal(hb.message, `This daemon token is for daemon ${mine.daemonId}, so it cannot act for daemon ${other}.`);
      const dc = await gqlError(server, `mutation ($d: UUID!) { disconnectDaemon(input: { daemonId: $d }) { result { status } } }`, { d: other }, mine.token);
      assert.equal(dc.extensions?.code, "BTDNY");
    }
  });

  it("cannot report on or write the output of another daemon's task, and learns nothing about it", async () => {
    const foreignTaskId = await foreignTask();
    for (const t of [sibling.taskId, foreignTaskId, "00000000-0000-0000-0000-000000000000"]) {
      const report = await gqlError(server, `mutation ($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "failed" }) { result { status } } }`, { t }, mine.token);
      assert.equal(report.extensions?.code, "BTDNY");
      assert.equal(report.message, `Task ${t} is not assigned to this daemon (${mine.daemonId}), so it cannot report on it. A daemon reports on the tasks it was given (daemonCommands) only.`);
    }
    const posing = await gqlError(
      server,
      `mutation ($t: UUID!, $d: UUID!) { reportTaskStatus(input: { taskId: $t, status: "failed", daemonId: $d }) { result { status } } }`,
      { t: sibling.taskId, d: sibling.daemonId },
      mine.token,
    );
    assert.equal(posing.extensions?.code, "BTDNY");
    assert.match(posing.message, /cannot report as daemon/);
    const output = await gqlError(server, `mutation ($t: UUID!) { appendTaskOutput(input: { taskId: $t, chunks: [{stream: "stdout", text: "x"}] }) { result { lastSeq } } }`, { t: sibling.taskId }, mine.token);
    assert.equal(output.extensions?.code, "BTDNY");
    assert.equal(output.message, `Task ${sibling.taskId} is not assigned to this daemon (${mine.daemonId}), so it cannot write its output. A daemon writes the output of the tasks it was given (daemonCommands) only.`);
    const read = await gql(server, `query ($t: UUID!) { task(rowId: $t) { rowId } }`, { t: sibling.taskId }, mine.token);
    assert.equal(read.task, null);
    const r = await db.pool.query("select status, (select count(*)::int from baton.task_output o where o.task_id = t.id) as chunks from baton.tasks t where id = any($1)", [[sibling.taskId, foreignTaskId]]);
    assert.deepEqual(r.rows, [{ status: "starting", chunks: 0 }, { status: "starting", chunks: 0 }]);
  });

  it("cannot subscribe to another daemon's commands", async () => {
    const sub = subscribe(wsClient(server, mine.token), `subscription ($d: UUID!) { daemonCommands(daemonId: $d) { type } }`, { d: sibling.daemonId });
    const errors = (await sub.error()) as { message: string; extensions?: { code?: string } }[];
    assert.equal(errors[0]!.extensions?.code, "BTNFD");
    assert.equal(errors[0]!.message, `Daemon ${sibling.daemonId} does not exist or is not yours; you can only subscribe to your own.`);
  });

  it("cannot do what an owner or an agent does (permission denied)", async () => {
    for (const query of [
      `mutation { createDirective(input: { title: "t", goal: "g" }) { result { rowId } } }`,
      `mutation { registerDaemon(input: { name: "more" }) { result { rowId } } }`,
      `mutation { batchAddSteps(input: { directiveId: "00000000-0000-0000-0000-000000000000", steps: [] }) { clientMutationId } }`,
    ]) {
      const err = await gqlError(server, query, {}, mine.token);
      assert.equal(err.extensions?.code, "42501", query);
      assert.match(err.message, /^Permission denied: your token's role may not do that/);
    }
  });

  it("is rejected when it claims the daemon role without a daemon id", async () => {
    const forged = token(server, { role: "baton_daemon", owner_id: server.credentials.owner_id });
    const err = await gqlError(server, `{ currentIdentity }`, {}, forged);
    assert.equal(err.status, 401);
    assert.equal(err.extensions?.code, "UNAUTHENTICATED");
    assert.match(err.message, /claims are not valid for Baton/);
  });

  it("is refused once its daemon is revoked, with a message that says so, and its owner gets no new one for it", async () => {
    const owner = server.credentials.owner_id;
    const doomed = (await db.pool.query<{ id: string }>("select id from baton.register_daemon('doomed', owner_id => $1)", [owner])).rows[0]!.id;
    const doomedToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: doomed }, server.credentials.token)).daemonToken;
    assert.deepEqual((await gql(server, `{ daemons { nodes { rowId } } }`, {}, doomedToken)).daemons.nodes, [{ rowId: doomed }]);
    const revoked = await gql(server, `mutation ($d: UUID!) { revokeDaemon(input: { daemonId: $d }) { result { status revokedAt } } }`, { d: doomed }, server.credentials.token);
    assert.equal(revoked.revokeDaemon.result.status, "disconnected");
    assert.ok(revoked.revokeDaemon.result.revokedAt);
    const said = `This daemon (${doomed}) was revoked by its owner, so its token no longer works. Start a new daemon with \`baton daemon run\`; it registers under a new id.`;
    for (const query of [
      `mutation ($d: UUID!) { heartbeat(input: { daemonId: $d }) { result { status } } }`,
      `query ($d: UUID!) { daemonToken(daemonId: $d) }`,
      `mutation ($d: UUID!) { disconnectDaemon(input: { daemonId: $d }) { result { status } } }`,
    ]) {
      const err = await gqlError(server, query, { d: doomed }, doomedToken);
      assert.deepEqual([err.extensions?.code, err.message], ["BTDNY", said], query);
    }
    const sees = await gql(server, `{ daemons { nodes { rowId } } tasks { nodes { rowId } } owners { nodes { rowId } } }`, {}, doomedToken);
    assert.deepEqual(sees, { daemons: { nodes: [] }, tasks: { nodes: [] }, owners: { nodes: [] } });
    const renew = await gqlError(server, `query ($d: UUID!) { daemonToken(daemonId: $d) }`, { d: doomed }, server.credentials.token);
    assert.deepEqual([renew.extensions?.code, renew.message], ["BTDNY", `Daemon ${doomed} was revoked by its owner, so it gets no new token. Start a new daemon with \`baton daemon run\`; it registers under a new id.`]);
    const row = (await db.pool.query("select status, revoked_at is not null as revoked from baton.daemons where id = $1", [doomed])).rows[0];
    assert.deepEqual(row, { status: "disconnected", revoked: true });
  });

  it("dies with every other token of its owner when the owner rotates, and the fresh owner token works", async () => {
    const rotating = (await db.pool.query<{ id: string }>("select id from baton.create_owner('rotating')")).rows[0]!.id;
    const ownerToken = token(server, { role: "baton_user", owner_id: rotating, gen: 0 });
    const daemonId = (await gql(server, `mutation { registerDaemon(input: { name: "box" }) { result { rowId } } }`, {}, ownerToken)).registerDaemon.result.rowId;
    const daemonToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemonId }, ownerToken)).daemonToken;
    const fresh = (await gql(server, `mutation { rotateTokens(input: {}) { result } }`, {}, ownerToken)).rotateTokens.result;
    const claims = JSON.parse(Buffer.from(fresh.split(".")[1], "base64url").toString());
    assert.deepEqual([claims.role, claims.owner_id, claims.gen], ["baton_user", rotating, 1]);
    assert.ok(Math.abs(claims.exp - claims.iat - 30 * 86400) <= 1, "a fresh owner token lasts 30 days");
    const rotated = "This token was revoked by `baton token rotate`; ask for a new one. The owner gets a fresh token from `baton token rotate` or `baton token create`; daemons and agents get theirs again from it.";
    const byOwner = await gqlError(server, `mutation { createDirective(input: { title: "t", goal: "g" }) { result { rowId } } }`, {}, ownerToken);
    assert.deepEqual([byOwner.extensions?.code, byOwner.message], ["BTDNY", rotated]);
    const byDaemon = await gqlError(server, `mutation ($d: UUID!) { heartbeat(input: { daemonId: $d }) { result { status } } }`, { d: daemonId }, daemonToken);
    assert.deepEqual([byDaemon.extensions?.code, byDaemon.message], ["BTDNY", rotated]);
    assert.deepEqual((await gql(server, `{ daemons { nodes { rowId } } }`, {}, ownerToken)).daemons.nodes, [], "the old owner token sees nothing");
    assert.deepEqual((await gql(server, `{ daemons { nodes { rowId } } }`, {}, fresh)).daemons.nodes, [{ rowId: daemonId }]);
    const newDaemonToken = (await gql(server, `query ($id: UUID!) { daemonToken(daemonId: $id) }`, { id: daemonId }, fresh)).daemonToken;
    const beat = await gql(server, `mutation ($d: UUID!) { heartbeat(input: { daemonId: $d }) { result { status } } }`, { d: daemonId }, newDaemonToken);
    assert.equal(beat.heartbeat.result.status, "connected");
    // The server's own owner is untouched.
    assert.equal((await gql(server, `{ currentIdentity }`, {}, server.credentials.token)).currentIdentity.owner_id, server.credentials.owner_id);
  });

  it("is one of the tokens that expire: credentials.json's owner token lasts 30 days and carries the owner's generation", async () => {
    const claims = JSON.parse(Buffer.from(server.credentials.token.split(".")[1]!, "base64url").toString());
    assert.deepEqual([claims.role, claims.owner_id, claims.gen, claims.aud], ["baton_user", server.credentials.owner_id, 0, "baton"]);
    assert.ok(Math.abs(claims.exp - claims.iat - 30 * 86400) <= 1, `exp ${claims.exp}, iat ${claims.iat}`);
  });
});
