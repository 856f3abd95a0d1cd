/*
 * Tokens that must not work: forged signatures, `alg: none` and other algorithms, roles Baton does not
 * hand out (a database superuser, the introspection role, anonymous claimed outright), malformed ids,
 * an `exp` that is not a time, no `exp` at all, an `iat` in the future or an `nbf` not yet reached, a
 * header or payload that is JSON but not an object. Each is refused over HTTP with 401 UNAUTHENTICATED and a message that
 * says what is wrong, and over websockets with the same error. Well-signed tokens naming an owner,
 * daemon or task that does not exist are let in (Baton keeps no list of tokens) but see nothing and
 * create nothing, and the database is unchanged after them.
 */
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { before, describe, it } from "node:test";
import { post, subscribe, token, useTestServer, wsClient, type TestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { assertOnlyRefused, awaitSentinel, operationIds, recordingWsClient } from "../helpers/sentinel";
import { assertUnchanged, snapshot } from "../helpers/snapshot";
import { makeWorld, type World } from "./world";

const db = useTestDatabase();

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const hmac = (data: string, secret: string) => createHmac("sha256", secret).update(data).digest("base64url");
const sign = (header: unknown, claims: unknown, secret: string) => `${b64(header)}.${b64(claims)}.${hmac(`${b64(header)}.${b64(claims)}`, secret)}`;

const SIGNATURE = /^The token's signature is invalid \(it was not issued by this Baton server\)\.$/;
const ALGORITHM = /^The token uses algorithm .*; only HS256 is accepted\.$/;
const NOT_JSON = /^The token is not a JWT \(its header or payload is not a JSON object\)\.$/;
const now = () => Math.floor(Date.now() / 1000);
const CLAIMS = /^The token's claims are not valid for Baton \(role must be baton_user, baton_daemon or baton_agent, with its ids\): /;

/** [what, token, the message it must get] */
function refusedTokens(server: TestServer, w: World): [string, string, RegExp][] {
  const claims = { role: "baton_user", owner_id: w.ownerA, aud: "baton" };
  const good = token(server, claims);
  const [header, body, signature] = good.split(".") as [string, string, string];
  const HS256 = { alg: "HS256", typ: "JWT" };
  return [
    // Forged signatures
    ["a payload changed to owner B under A's signature", `${header}.${b64({ ...claims, owner_id: w.ownerB })}.${signature}`, SIGNATURE],
    ["a payload changed to the daemon role under A's signature", `${header}.${b64({ ...claims, role: "baton_daemon", daemon_id: w.daemonA })}.${signature}`, SIGNATURE],
    ["a token signed with another secret", sign(HS256, claims, "z".repeat(48)), SIGNATURE],
    ["a token signed with the secret's first 31 characters", sign(HS256, claims, server.secret.slice(0, 31)), SIGNATURE],
    ["an empty signature", `${header}.${body}.`, SIGNATURE],
    ["a truncated signature", `${header}.${body}.${signature.slice(0, 20)}`, SIGNATURE],
    ["another token's signature", `${header}.${body}.${token(server, { ...claims, owner_id: w.ownerB }).split(".")[2]}`, SIGNATURE],
    // Algorithms other than HS256
    ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${body}.`, /^The token uses algorithm "none"; only HS256 is accepted\.$/],
    ["alg None", `${b64({ alg: "None", typ: "JWT" })}.${body}.`, ALGORITHM],
    ["alg NONE with a signature", `${b64({ alg: "NONE", typ: "JWT" })}.${body}.${signature}`, ALGORITHM],
    ["no alg at all", sign({ typ: "JWT" }, claims, server.secret), /^The token uses algorithm undefined; only HS256 is accepted\.$/],
    ["alg HS512", sign({ alg: "HS512", typ: "JWT" }, claims, server.secret), ALGORITHM],
    ["alg RS256 signed with the secret as an HMAC key", sign({ alg: "RS256", typ: "JWT" }, claims, server.secret), ALGORITHM],
    // Roles Baton does not hand out, and claims that do not fit their role
    ["role postgres", token(server, { ...claims, role: "postgres" }), CLAIMS],
    ["role baton_api (the introspection role)", token(server, { ...claims, role: "baton_api" }), CLAIMS],
    ["role baton_anonymous claimed outright", token(server, { ...claims, role: "baton_anonymous" }), CLAIMS],
    ["role pg_read_all_data", token(server, { ...claims, role: "pg_read_all_data" }), CLAIMS],
    ["role BATON_USER (case matters)", token(server, { ...claims, role: "BATON_USER" }), CLAIMS],
    ["no role", token(server, { owner_id: w.ownerA }), CLAIMS],
    ["a role that is a list", token(server, { ...claims, role: ["baton_user"] }), CLAIMS],
    ["an owner id that is not a UUID", token(server, { ...claims, owner_id: "x'; drop table baton.owners; --" }), CLAIMS],
    ["a daemon token without its daemon", token(server, { role: "baton_daemon", owner_id: w.ownerA }), CLAIMS],
    ["an agent token without its directive", token(server, { role: "baton_agent", owner_id: w.ownerA, task_id: w.task }), CLAIMS],
    // Expiry and audience
    ["a token that expired a second ago", token(server, { ...claims, exp: Math.floor(Date.now() / 1000) - 1 }), /^The token has expired; ask for a new one\.$/],
    ["an exp that is not a number", token(server, { ...claims, exp: "2999999999" }), /^The token's exp must be a number of seconds since 1970/],
    ["no audience", token(server, { role: "baton_user", owner_id: w.ownerA, aud: undefined }), /^The token is not meant for Baton/],
    ["no exp at all (every token Baton mints expires)", token(server, { ...claims, exp: undefined }), /^The token has no expiry \(exp\); Baton refuses tokens that never expire\. Ask for a new token/],
    ["an exp of null", token(server, { ...claims, exp: null }), /^The token has no expiry \(exp\)|^The token's exp must be a number/],
    ["a generation that is not a whole number", token(server, { ...claims, gen: "1" }), CLAIMS],
    // Issued-at and not-before (jsonwebtoken checks nbf; iat is checked by verifyJwt)
    ["a token issued an hour from now (iat)", token(server, { ...claims, iat: now() + 3600 }), /^The token was issued in the future \(its iat is more than 30 s ahead of this server's clock\)/],
    ["an iat that is not a number", token(server, { ...claims, iat: "yesterday" }), /^The token's iat must be a number of seconds since 1970/],
    ["a token not valid for another hour (nbf)", token(server, { ...claims, nbf: now() + 3600 }), /^The token is not valid yet \(its nbf is in the future\)/],
    ["an nbf that is not a number", token(server, { ...claims, nbf: "soon" }), /^The token's nbf must be a number of seconds since 1970/],
    // Header or payload JSON that is not an object (a header of `null` stopped the server)
    ["a header that is JSON null", `${b64(null)}.${body}.${signature}`, NOT_JSON],
    ["a payload that is JSON null, signed", sign(HS256, null, server.secret), NOT_JSON],
    ["a payload that is a list, signed", sign(HS256, [claims], server.secret), NOT_JSON],
    ["a header that is a number", `${b64(1)}.${body}.${signature}`, NOT_JSON],
  ];
}

describe("tokens that must not work", () => {
  const server = useTestServer(db, { worker: false });
  let w: World;

  before(async () => {
    w = await makeWorld(db, server, "tokens");
  });

  it("refuses forged, none-algorithm, wrong-role and malformed tokens over HTTP with 401 UNAUTHENTICATED, changing nothing", async () => {
    const before = await snapshot(db);
    for (const [what, bad, message] of refusedTokens(server, w)) {
      for (const query of [`{ currentIdentity }`, `mutation ($d: UUID!) { pauseDirective(input: { directiveId: $d }) { result { status } } }`]) {
        const r = await post(server, query, { d: w.directive }, bad);
        assert.equal(r.status, 401, `${what}: HTTP ${r.status} ${JSON.stringify(r)}`);
        assert.equal(r.data, undefined, what);
        assert.equal(r.errors?.length, 1, what);
        assert.equal(r.errors![0]!.extensions?.code, "UNAUTHENTICATED", what);
        assert.match(r.errors![0]!.message, message, what);
      }
    }
    await assertUnchanged(db, before, "the refused tokens");
  });

  it("refuses the same tokens over websockets, before anything is delivered", async () => {
    // The sentinel: owner A's own subscription to the same directive, on the same server and channel.
    const EVENTS = `subscription ($d: UUID!) { directiveEvents(directiveId: $d) { kind } }`;
    const watcherClient = wsClient(server, w.tokens.ownerA);
    const watcher = subscribe(watcherClient, EVENTS, { d: w.directive });
    const notify = (kind: string) => db.pool.query("select pg_notify($1, $2)", [`baton:directive:${w.directive}`, JSON.stringify({ event_id: Number(w.eventId), kind })]);
    const isProbe = (p: any) => /^probe_/.test(p?.directiveEvents?.kind ?? "");
    let n = 0;
    for (const [what, bad, message] of refusedTokens(server, w)) {
      const { client, frames } = recordingWsClient(server, bad);
      const sub = subscribe(client, EVENTS, { d: w.directive });
      const errors = (await sub.error()) as { message: string; extensions?: { code?: string } }[];
      assert.equal(errors[0]?.extensions?.code, "UNAUTHENTICATED", what);
      assert.match(errors[0]!.message, message, what);
      // Once owner A has heard of the probe, the refused socket would have too: it got its refusal only.
      const probe = `probe_${++n}`;
      await awaitSentinel(watcher, () => notify(probe), (p: any) => p?.directiveEvents?.kind === probe, { ignore: isProbe, what: `${what}: owner A's copy of ${probe}` });
      assertOnlyRefused(frames, operationIds(frames, { d: w.directive }), what);
      assert.deepEqual(sub.pending(), [], what);
      await client.dispose();
    }
    watcher.close();
    await watcherClient.dispose();
  });

  it("accepts a token whose iat is a few seconds ahead (clock skew) and whose nbf has passed", async () => {
    const skewed = token(server, { role: "baton_user", owner_id: w.ownerA, iat: now() + 10, nbf: now() - 10 });
    const r = await post(server, `{ currentIdentity }`, {}, skewed);
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.data.currentIdentity.role, "baton_user");
  });

  it("lets a well-signed token of an owner that does not exist see nothing and create nothing", async () => {
    const ghostOwner = randomUUID();
    const ghost = token(server, { role: "baton_user", owner_id: ghostOwner });
    const before = await snapshot(db);
    const read = await post(
      server,
      `query ($d: UUID!, $dm: UUID!) { owners { nodes { rowId } } directives { nodes { rowId } } directiveSteps { nodes { rowId } } tasks { nodes { rowId } }
         daemons { nodes { rowId } } events { nodes { rowId } } taskOutputs { nodes { rowId } } directive(rowId: $d) { rowId } daemon(rowId: $dm) { rowId } }`,
      { d: w.directive, dm: w.daemonA },
      ghost,
    );
    assert.equal(read.errors, undefined, JSON.stringify(read.errors));
    assert.deepEqual(read.data, {
      owners: { nodes: [] },
      directives: { nodes: [] },
      directiveSteps: { nodes: [] },
      tasks: { nodes: [] },
      daemons: { nodes: [] },
      events: { nodes: [] },
      taskOutputs: { nodes: [] },
      directive: null,
      daemon: null,
    });
    const created = [
      [`mutation { createDirective(input: { title: "ghost", goal: "haunt" }) { result { rowId } } }`, "createDirective"],
      [`mutation { registerDaemon(input: { name: "ghost box" }) { result { rowId } } }`, "registerDaemon"],
    ] as const;
    for (const [query, field] of created) {
      const r = await post(server, query, {}, ghost);
      assert.equal(r.errors?.[0]?.extensions?.code, "BTNFD", `${field}: ${JSON.stringify(r.errors)}`);
      assert.equal(
        r.errors![0]!.message,
        `Owner ${ghostOwner} (the owner of your token) does not exist, so nothing can be created for it. Use a token of an existing owner; \`baton owner create NAME\` prints one.`,
      );
      assert.equal(r.data?.[field], null);
    }
    const onA = await post(server, `mutation ($d: UUID!) { addStep(input: { directiveId: $d, name: "boo" }) { result { rowId } } }`, { d: w.directive }, ghost);
    assert.equal(onA.errors?.[0]?.extensions?.code, "BTNFD");
    assert.equal(onA.errors![0]!.message, `Directive ${w.directive} does not exist. List your directives with \`baton directive list\`.`);
    const asA = await post(server, `mutation ($o: UUID!) { createDirective(input: { title: "t", goal: "g", ownerId: $o }) { result { rowId } } }`, { o: w.ownerA }, ghost);
    assert.equal(asA.errors?.[0]?.extensions?.code, "BTDNY");
    await assertUnchanged(db, before, "the token of a missing owner");
  });

  it("lets a well-signed token of a daemon that does not exist, or of another owner's daemon, do nothing", async () => {
    const ghostDaemon = randomUUID();
    const before = await snapshot(db);
    const ghost = token(server, { role: "baton_daemon", owner_id: w.ownerA, daemon_id: ghostDaemon });
    const read = await post(server, `{ tasks { nodes { rowId } } daemons { nodes { rowId } } directives { nodes { rowId } } }`, {}, ghost);
    assert.deepEqual(read.data, { tasks: { nodes: [] }, daemons: { nodes: [] }, directives: { nodes: [] } });
    for (const [query, message] of [
      [`mutation ($dm: UUID!) { heartbeat(input: { daemonId: $dm }) { result { rowId } } }`, `Daemon ${ghostDaemon} does not exist. Register again with \`baton daemon run\`.`],
      [`mutation ($dm: UUID!) { disconnectDaemon(input: { daemonId: $dm }) { result { rowId } } }`, `Daemon ${ghostDaemon} does not exist. Register again with \`baton daemon run\`.`],
      [`query ($dm: UUID!) { daemonToken(daemonId: $dm) }`, `Daemon ${ghostDaemon} does not exist. Register a daemon with registerDaemon, then ask for its token with its id.`],
    ] as const) {
      const r = await post(server, query, { dm: ghostDaemon }, ghost);
      assert.equal(r.errors?.[0]?.extensions?.code, "BTNFD", query);
      assert.equal(r.errors![0]!.message, message);
    }
    const report = await post(server, `mutation ($t: UUID!) { reportTaskStatus(input: { taskId: $t, status: "completed" }) { result { status } } }`, { t: w.task }, ghost);
    assert.equal(report.errors?.[0]?.extensions?.code, "BTDNY");
    assert.equal(report.errors![0]!.message, `Task ${w.task} is not assigned to this daemon (${ghostDaemon}), so it cannot report on it. A daemon reports on the tasks it was given (daemonCommands) only.`);
    await assertUnchanged(db, before, "the token of a missing daemon");
  });

  it("lets an agent token whose task belongs to another directive, or does not exist, see and change nothing", async () => {
    const before = await snapshot(db);
    for (const taskId of [randomUUID(), w.task]) {
      // A's directive with a made-up task, and A's task claimed for B's directive.
      const claims = taskId === w.task ? { directive_id: w.directiveB } : { directive_id: w.directive };
      const agent = token(server, { role: "baton_agent", owner_id: w.ownerA, task_id: taskId, ...claims });
      const read = await post(server, `{ directives { nodes { rowId } } directiveSteps { nodes { rowId } } events { nodes { rowId } } tasks { nodes { rowId } } }`, {}, agent);
      assert.deepEqual(read.data, { directives: { nodes: [] }, directiveSteps: { nodes: [] }, events: { nodes: [] }, tasks: { nodes: [] } });
      const add = await post(server, `mutation ($d: UUID!) { addStep(input: { directiveId: $d, name: "sneaky" }) { result { rowId } } }`, { d: w.directive }, agent);
      assert.equal(add.errors?.[0]?.extensions?.code, "BTDNY", JSON.stringify(add.errors));
      assert.match(add.errors![0]!.message, /^This agent token (belonged to task|is for directive) /);
    }
    await assertUnchanged(db, before, "agent tokens of no live task");
  });
});
