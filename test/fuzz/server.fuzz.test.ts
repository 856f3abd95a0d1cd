/*
 * Property: nothing a client sends stops the server. fast-check generates thousands of hostile inputs
 * (arbitraries.ts): raw HTTP requests (methods, targets, headers, bodies an HTTP client would refuse to
 * send), GraphQL requests (documents, variables and tokens of any shape) and websocket sessions
 * (connectionParams, graphql-ws messages, malformed frames). They go to a real `baton server`
 * process on a database with a fixture of rows in every state. After each input the process must
 * still run, and no reply may be a 500, a masked INTERNAL error or a stack trace; every CHECK_EVERY inputs, and at the end, /healthz must answer 200 and the database must
 * be unchanged (row counts and md5 of every Baton table).
 *
 * Bounded: BATON_FUZZ_RUNS inputs (default 5000) or BATON_FUZZ_SECONDS (default 90), whichever comes
 * first. BATON_FUZZ_SEED replays a run; BATON_FUZZ_VERBOSE=1 prints sample inputs for each kind of reply. An input that stops the server is shrunk by fast-check to a
 * small one, the server is restarted, and the test fails naming it.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import { makeFixture, removeFixture, type Fixture } from "../bad-input/support";
import type { TestServer } from "../helpers/api";
import { useE2E } from "../helpers/e2e";
import { httpRequest, rawRequest, rawWebsocket, startHardenedServer, wsFrame, type HardenedServer } from "../helpers/raw-http";
import { assertUnchanged, snapshot, type Snapshot } from "../helpers/snapshot";
import { describeInput, inputArb, type FuzzInput, type FuzzWorld } from "./arbitraries";

const RUNS = Number(process.env.BATON_FUZZ_RUNS) || 5_000;
const SECONDS = Number(process.env.BATON_FUZZ_SECONDS) || 90;
const SEED = process.env.BATON_FUZZ_SEED ? Number(process.env.BATON_FUZZ_SEED) : Date.now() % 2 ** 31;
const CHECK_EVERY = 250;

const e2e = useE2E();

/** Stack frames or file paths in a reply would be internals leaking to the client. */
const INTERNALS = /\n\s+at [^\n]+\(|node_modules|\/src\/[a-z-]+\.ts/;

type Tally = { internal: number; internalSamples: string[]; errors: string[]; samples: Record<string, string[]>; tried: number; stopped: number; byKind: Record<string, number>; statuses: Record<string, number>; timedOut: number; leaks: string[]; stoppers: string[] };

async function send(server: HardenedServer, input: FuzzInput, tally: Tally): Promise<void> {
  const record = (status: number | string | undefined, body?: Buffer) => {
    if (body && /"code":"INTERNAL"/.test(body.toString("utf8"))) {
      tally.internal++;
      if (tally.internalSamples.length < 5) tally.internalSamples.push(`${describeInput(input)}\n  -> ${body.toString("utf8").slice(0, 300)}`);
    }
    if (status === 500 && tally.errors.length < 5) tally.errors.push(`${describeInput(input)}\n  -> ${(body ?? Buffer.alloc(0)).toString("utf8").slice(0, 300)}`);
    const key = `${input.kind} ${status ?? "closed"}`;
    tally.statuses[key] = (tally.statuses[key] ?? 0) + 1;
    const samples = (tally.samples[key] ??= []);
    if (samples.length < 3) samples.push(`${describeInput(input)}\n    -> ${(body ?? Buffer.alloc(0)).toString("utf8").slice(0, 200)}`);
    if (body && INTERNALS.test(body.toString("utf8")) && tally.leaks.length < 5) tally.leaks.push(`${describeInput(input)}\n  -> ${body.toString("utf8").slice(0, 300)}`);
  };
  if (input.kind === "http") {
    const headers = input.headers.map(([k, v]) => [k, v.replace(/[\r\n]/g, " ")] as [string, string]);
    let bytes = httpRequest(input.method, input.target, headers, Buffer.from(input.body));
    if (input.rawHeaderBytes) bytes = Buffer.concat([Buffer.from(input.rawHeaderBytes), bytes]); // garbage before the request line
    const reply = await rawRequest(server.port, bytes, 10_000);
    if (reply.timedOut) tally.timedOut++;
    return record(reply.status, reply.body);
  }
  if (input.kind === "graphql") {
    const headers: [string, string][] = [["content-type", input.contentType], ["accept", input.accept]];
    if (input.auth.header !== undefined) headers.push(["authorization", input.auth.header.replace(/[\r\n]/g, " ")]);
    const reply = await rawRequest(server.port, httpRequest("POST", "/graphql", headers, input.body), 15_000);
    if (reply.timedOut) tally.timedOut++;
    return record(reply.status, reply.body);
  }
  let ws;
  try {
    ws = await rawWebsocket(server.port);
  } catch {
    return record("handshake refused");
  }
  if (ws.status !== 101) {
    ws.socket.destroy();
    return record(ws.status);
  }
  for (const f of input.frames) ws.send(wsFrame(f.opcode, Buffer.from(f.payload), f));
  if (input.ending === "reset") ws.socket.destroy();
  else if (input.ending === "close") ws.send(wsFrame(0x8, Buffer.from([0x03, 0xe8])));
  const timer = setTimeout(() => ws.socket.destroy(), input.ending === "wait" ? 300 : 5_000);
  const sent = await ws.closed;
  clearTimeout(timer);
  record(101, sent);
}

/**
 * Is the process still serving? A crash caused by an input can come a moment after its reply (a
 * websocket frame is processed after the client's close), so ask the server's event loop once (a 404
 * path, no database): a process that cannot answer that is down, whether or not it has exited yet.
 */
async function stillUp(server: HardenedServer): Promise<boolean> {
  if (!server.alive()) return false;
  const probe = await rawRequest(server.port, httpRequest("GET", "/fuzz-probe", []), 15_000);
  return probe.status === 404 && server.alive();
}

async function healthy(server: HardenedServer): Promise<boolean> {
  const res = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(15_000) }).catch(() => undefined);
  return res?.status === 200;
}

describe("fuzz: nothing a client sends stops the server", () => {
  let server: HardenedServer;
  let fixture: Fixture;
  let world: FuzzWorld;
  let baseline: Snapshot;

  before(async () => {
    server = await startHardenedServer(e2e, { BATON_WORKER: "off" }); // no worker: nothing else changes the database
    const credentials = server.credentials();
    fixture = await makeFixture(e2e.db, { credentials, secret: server.secret, graphqlUrl: `${server.url}/graphql` } as TestServer);
    world = {
      secret: server.secret,
      ownerId: fixture.ownerA,
      daemonId: fixture.daemonA,
      directiveId: fixture.d,
      stepId: fixture.steps.ready,
      taskId: fixture.taskRun,
      ownerToken: fixture.owner,
      daemonToken: fixture.daemon,
    };
    baseline = await snapshot(e2e.db);
  });

  it(`survives up to ${RUNS} hostile inputs (or ${SECONDS} s): the process never exits, /healthz answers, the database is unchanged`, async () => {
    const tally: Tally = { internal: 0, internalSamples: [], errors: [], samples: {}, tried: 0, stopped: 0, byKind: {}, statuses: {}, timedOut: 0, leaks: [], stoppers: [] };
    const started = Date.now();
    // The fixture's tokens must work, or the valid-token inputs test nothing.
    const identity = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${world.ownerToken}` },
      body: JSON.stringify({ query: "{ currentIdentity }" }),
    });
    assert.equal(identity.status, 200, await identity.text());

    const result = await fc.check(
      fc.asyncProperty(inputArb(world), async (input) => {
        tally.tried++;
        tally.byKind[input.kind] = (tally.byKind[input.kind] ?? 0) + 1;
        await send(server, input, tally);
        let ok = await stillUp(server);
        if (ok && tally.tried % CHECK_EVERY === 0) {
          ok = await healthy(server);
          await assertUnchanged(e2e.db, baseline, `the ${tally.tried} inputs so far`);
        }
        if (!ok) {
          tally.stopped++;
          if (tally.stoppers.length < 5) tally.stoppers.push(describeInput(input));
          if (!server.alive()) server = await startHardenedServer(e2e, { BATON_WORKER: "off", BATON_JWT_SECRET: world.secret });
        }
        return ok;
      }),
      { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: SECONDS * 1000, markInterruptAsFailure: false, endOnFailure: false },
    );

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const alive = server.alive() && (await healthy(server));
    console.log(
      [
        `fuzz: ${tally.tried} inputs tried in ${seconds} s (seed ${SEED}; ${Object.entries(tally.byKind).map(([k, n]) => `${k} ${n}`).join(", ")}); ${tally.stopped} stopped the server.`,
        `fuzz: replies ${JSON.stringify(tally.statuses)}; ${tally.timedOut} got no answer before the client's timeout; ${tally.internal} carried a masked internal error.`,
        ...tally.internalSamples.map((s) => `fuzz: masked internal error: ${s}`),
        ...tally.stoppers.map((s) => `fuzz: stopped the server: ${s}`),
        // BATON_FUZZ_VERBOSE=1: a few inputs of each kind of reply, to see what the generators reach.
        ...(process.env.BATON_FUZZ_VERBOSE ? Object.entries(tally.samples).map(([k, v]) => `fuzz: ${k}:\n  ${v.join("\n  ")}`) : []),
      ].join("\n"),
    );
    assert.ok(!result.failed, `an input stopped the server or /healthz (seed ${SEED}, replay with BATON_FUZZ_SEED=${SEED}):\n${result.counterexample ? describeInput(result.counterexample[0]) : String(result.errorInstance)}\n${tally.stoppers.join("\n")}`);
    assert.equal(tally.stopped, 0);
    assert.ok(alive, "the server answers /healthz after the run");
    assert.deepEqual(tally.leaks, [], "no reply shows a stack trace or a source path");
    // 500 is the last resort for a server bug; a client's mistake gets a 4xx that says what was wrong.
    assert.deepEqual(tally.errors, [], "no input gets a 500");
    assert.deepEqual(tally.internalSamples, [], "no input gets a masked internal error (INTERNAL): client mistakes get messages that say what was wrong");
    await assertUnchanged(e2e.db, baseline, `the ${tally.tried} fuzz inputs`);
    removeFixture(fixture);
  });
});
