/*
 * The bad-input corpus through GraphQL: malformed bodies and wrong types, unknown and cross-directive
 * ids, cycles, self-dependencies, oversized texts and batches, NUL bytes, text that is not UTF-8,
 * and transitions out of order. Each case is refused with one error whose code and message say what
 * was wrong, and the database is unchanged (row counts and checksums of every table, before and
 * after).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { post, subscribe, useTestServer, wsClient, type TestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { assertUnchanged, snapshot } from "../helpers/snapshot";
import { makeFixture, removeFixture, type Fixture } from "./support";

const db = useTestDatabase();

type Reply = { status: number; errors?: { message: string; extensions?: { code?: string } }[]; data?: any };
type Case = {
  name: string;
  send: (server: TestServer, f: Fixture) => Promise<Reply>;
  /** HTTP status (200 unless the request itself is refused). */
  status?: number;
  code: string | undefined;
  message: (f: Fixture) => string | RegExp;
};

const ZERO = "00000000-0000-4000-8000-000000000000";

/** A GraphQL request with A's owner token (or A's daemon's). */
const as =
  (who: "owner" | "daemon", query: string, variables: (f: Fixture) => Record<string, unknown> = () => ({})) =>
  (server: TestServer, f: Fixture): Promise<Reply> =>
    post(server, query, variables(f), f[who]);

/** A raw POST body, for what a GraphQL client would never send. */
const raw =
  (body: (f: Fixture) => string | Uint8Array) =>
  async (server: TestServer, f: Fixture): Promise<Reply> => {
    const res = await fetch(server.graphqlUrl, { method: "POST", headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${f.owner}` }, body: body(f) as BodyInit });
    const text = await res.text();
    return { status: res.status, ...JSON.parse(text) };
  };

const BATCH = `mutation ($d: UUID!, $steps: JSON!) { batchAddSteps(input: { directiveId: $d, steps: $steps }) { result { rowId } } }`;
const batch = (steps: (f: Fixture) => unknown, directive: (f: Fixture) => string = (f) => f.d) => as("owner", BATCH, (f) => ({ d: directive(f), steps: steps(f) }));
const ADD = `mutation ($d: UUID!, $name: String!, $plan: String, $deps: [UUID]) { addStep(input: { directiveId: $d, name: $name, taskPlan: $plan, dependsOn: $deps }) { result { rowId } } }`;
const SET_DEPS = `mutation ($s: UUID!, $deps: [UUID]) { setStepDependencies(input: { stepId: $s, dependsOn: $deps }) { result { rowId } } }`;
const setDeps = (step: (f: Fixture) => string, deps: (f: Fixture) => (string | null)[]) => as("owner", SET_DEPS, (f) => ({ s: step(f), deps: deps(f) }));
const override = (mutation: string, step: (f: Fixture) => string) => as("owner", `mutation ($s: UUID!) { ${mutation}(input: { stepId: $s }) { result { status } } }`, (f) => ({ s: step(f) }));
const transition = (mutation: string, directive: (f: Fixture) => string) =>
  as("owner", `mutation ($d: UUID!) { ${mutation}(input: { directiveId: $d }) { result { status } } }`, (f) => ({ d: directive(f) }));
const REPORT = `mutation ($t: UUID!, $status: String!, $v: Int) { reportTaskStatus(input: { taskId: $t, status: $status, expectedVersion: $v }) { result { status } } }`;
const OUTPUT = `mutation ($t: UUID!, $chunks: JSON!) { appendTaskOutput(input: { taskId: $t, chunks: $chunks }) { result { lastSeq } } }`;

const NUL_MESSAGE = "The input contains a character PostgreSQL cannot store (such as a NUL byte).";
const SURROGATE = (where: string) => `The text at ${where} contains a lone UTF-16 surrogate (such as \\ud800), which is half of a character, not text; send valid Unicode.`;
const ENTRY_FIELDS = "the fields are key, name, description, taskPlan, dependsOn, orderIndex, check, timeout and stall";
const MIB = 1024 * 1024;

const CASES: Case[] = [
  // ---- Malformed requests and wrong types
  { name: "a body that is not JSON", send: raw(() => "{ not json"), status: 400, code: undefined, message: () => /^Parsing failed, please check that the data you're sending/ },
  { name: "a query that is not GraphQL", send: as("owner", `{ directives { nodes { rowId }`), code: undefined, message: () => "Syntax Error: Expected Name, found <EOF>." },
  { name: "a directive id that is not a UUID", send: batch(() => [{ name: "x" }], () => "not-a-uuid"), code: "BAD_USER_INPUT", message: () => /^Variable "\$d" got invalid value "not-a-uuid"; Invalid UUID/ },
  { name: "a required variable left out", send: as("owner", BATCH, (f) => ({ d: f.d })), code: "BAD_USER_INPUT", message: () => 'Variable "$steps" of required type "JSON!" was not provided.' },
  {
    name: "maxTasks given as a string",
    send: as("owner", `mutation ($m: Int) { registerDaemon(input: { name: "box", maxTasks: $m }) { result { rowId } } }`, () => ({ m: "two" })),
    code: "BAD_USER_INPUT",
    message: () => 'Variable "$m" got invalid value "two"; Int cannot represent non-integer value: "two"',
  },
  { name: "maxTasks of 0", send: as("owner", `mutation { registerDaemon(input: { name: "box", maxTasks: 0 }) { result { rowId } } }`), code: "BTINV", message: () => "max_tasks must be between 1 and 1000 (got 0)." },
  { name: "steps that are an object, not an array", send: batch(() => ({ name: "x" })), code: "BTINV", message: () => 'The steps must be a JSON array of objects like [{"name": "Write tests"}]; got object.' },
  { name: "steps that are a JSON string holding an array", send: batch(() => '[{"name": "x"}]'), code: "BTINV", message: () => 'The steps must be a JSON array of objects like [{"name": "Write tests"}]; got string.' },
  { name: "an empty batch", send: batch(() => []), code: "BTINV", message: () => "The batch is empty; give at least one step." },
  { name: "an entry that is a number", send: batch(() => [{ name: "ok" }, 5]), code: "BTINV", message: () => 'Entry 2 of the batch is not an object; each entry looks like {"name": "...", "dependsOn": ["..."]}.' },
  { name: "an entry without a name", send: batch(() => [{ description: "nameless" }]), code: "BTINV", message: () => 'Entry 1 has an invalid "name": it must be a string of 1 to 200 characters.' },
  { name: "a name that is a number", send: batch(() => [{ name: 42 }]), code: "BTINV", message: () => 'Entry 1 has an invalid "name": it must be a string of 1 to 200 characters.' },
  { name: "a blank name", send: batch(() => [{ name: "   " }]), code: "BTINV", message: () => "Entry 1 has a name of 0 characters; a name must be 1 to 200 characters." },
  { name: "a name of 201 characters", send: batch(() => [{ name: "n".repeat(201) }]), code: "BTINV", message: () => "Entry 1 has a name of 201 characters; a name must be 1 to 200 characters." },
  { name: "dependsOn that is a string", send: batch(() => [{ key: "a", name: "a" }, { name: "b", dependsOn: "a" }]), code: "BTINV", message: () => 'Entry 2 has an invalid "dependsOn": it must be an array of strings, each a step id or a key of this batch.' },
  { name: "dependsOn holding a number", send: batch(() => [{ name: "b", dependsOn: [1] }]), code: "BTINV", message: () => 'Entry 1 has an invalid "dependsOn": it must be an array of strings, each a step id or a key of this batch.' },
  { name: "an orderIndex of 1.5", send: batch(() => [{ name: "b", orderIndex: 1.5 }]), code: "BTINV", message: () => 'Entry 1 has an invalid "orderIndex": it must be an integer between -1000000000 and 1000000000.' },
  { name: "an orderIndex given as a string", send: batch(() => [{ name: "b", orderIndex: "3" }]), code: "BTINV", message: () => 'Entry 1 has an invalid "orderIndex": it must be an integer between -1000000000 and 1000000000.' },
  { name: "an unknown field in an entry", send: batch(() => [{ name: "b", dependencies: [] }]), code: "BTINV", message: () => `Entry 1 has an unknown field "dependencies"; ${ENTRY_FIELDS}.` },
  { name: "two entries with one key", send: batch(() => [{ key: "k", name: "a" }, { key: "k", name: "b" }]), code: "BTINV", message: () => 'The key "k" is used by entries 1 and 2; keys must be unique within a batch.' },
  { name: "an empty directive title", send: as("owner", `mutation { createDirective(input: { title: " ", goal: "g" }) { result { rowId } } }`), code: "BTINV", message: () => "The title must not be empty." },
  { name: "an unknown task status", send: as("daemon", REPORT, (f) => ({ t: f.taskRun, status: "finished" })), code: "BTINV", message: () => 'Unknown task status "finished"; report one of running, checking, completed (or merged, done), failed, interrupted.' },
  {
    name: "1,001 chunks of output in one call",
    send: as("daemon", OUTPUT, (f) => ({ t: f.taskRun, chunks: Array.from({ length: 1001 }, () => ({ stream: "stdout", text: "x" })) })),
    code: "BTINV",
    message: () => "A batch of output has 1001 chunks; the limit is 1000 per call. Join small chunks, or send them in several calls.",
  },
  { name: "an output chunk on stream stdin", send: as("daemon", OUTPUT, (f) => ({ t: f.taskRun, chunks: [{ stream: "stdin", text: "x" }] })), code: "BTINV", message: () => 'Output chunk 1 must be {"stream": "stdout" | "stderr", "text": "..."} (got {"text": "x", "stream": "stdin"}).' },
  { name: "a null among the dependencies of set-deps", send: setDeps((f) => f.q.q3, (f) => [f.q.q1, null]), code: "BTINV", message: (f) => `The dependencies of step ${f.q.q3} contain a null at position 2; give the ids of steps of its directive (an empty list for none).` },

  // ---- Unknown and cross-directive ids
  { name: "a step added to a directive that does not exist", send: as("owner", ADD, () => ({ d: ZERO, name: "x" })), code: "BTNFD", message: () => `Directive ${ZERO} does not exist. List your directives with \`baton directive list\`.` },
  {
    name: "a batch depending on an unknown id",
    send: batch(() => [{ name: "x", dependsOn: [ZERO] }]),
    code: "BTNFD",
    message: (f) => `Entry 1 ("x") depends on "${ZERO}", which is neither a key in this batch nor a step of directive ${f.d}. Use a key defined in this batch, or a step id from \`baton directive status\`.`,
  },
  {
    name: "a batch depending on a key it does not define",
    send: batch(() => [{ key: "a", name: "a" }, { name: "b", dependsOn: ["c"] }]),
    code: "BTNFD",
    message: (f) => `Entry 2 ("b") depends on "c", which is neither a key in this batch nor a step of directive ${f.d}. Use a key defined in this batch, or a step id from \`baton directive status\`.`,
  },
  {
    name: "a batch depending on a step of A's other directive",
    send: batch((f) => [{ name: "x", dependsOn: [f.q.q1] }]),
    code: "BTINV",
    message: (f) => `Entry 1 ("x") depends on step ${f.q.q1}, which belongs to another directive (${f.d2}); a step can only depend on steps of its own directive.`,
  },
  {
    name: "a batch depending on owner B's step (reported as unknown, without B's directive id)",
    send: batch((f) => [{ name: "x", dependsOn: [f.stepB] }]),
    code: "BTNFD",
    message: (f) => `Entry 1 ("x") depends on "${f.stepB}", which is neither a key in this batch nor a step of directive ${f.d}. Use a key defined in this batch, or a step id from \`baton directive status\`.`,
  },
  { name: "set-deps on a step that does not exist", send: setDeps(() => ZERO, () => []), code: "BTNFD", message: () => `Step ${ZERO} does not exist. See the steps of a directive with \`baton directive status\`.` },
  { name: "set-deps to a step that does not exist", send: setDeps((f) => f.q.q3, () => [ZERO]), code: "BTNFD", message: () => `Step ${ZERO} does not exist. See the steps of the directive with \`baton directive status\`.` },
  {
    name: "set-deps to a step of A's other directive",
    send: setDeps((f) => f.q.q3, (f) => [f.steps.ready]),
    code: "BTINV",
    message: (f) => `Step ${f.steps.ready} belongs to another directive (${f.d}); a step can only depend on steps of its own directive.`,
  },
  { name: "set-deps to owner B's step (reported as unknown)", send: setDeps((f) => f.q.q3, (f) => [f.stepB]), code: "BTNFD", message: (f) => `Step ${f.stepB} does not exist. See the steps of the directive with \`baton directive status\`.` },
  {
    name: "complete-step on owner B's step (reported as unknown, without B's directive id)",
    send: override("completeStep", (f) => f.stepB),
    code: "BTNFD",
    message: (f) => `Step ${f.stepB} does not exist. See the steps of a directive with \`baton directive status\`.`,
  },
  {
    name: "a daemon report on a task that does not exist",
    send: as("daemon", REPORT, () => ({ t: ZERO, status: "completed" })),
    code: "BTDNY",
    message: (f) => `Task ${ZERO} is not assigned to this daemon (${f.daemonA}), so it cannot report on it. A daemon reports on the tasks it was given (daemonCommands) only.`,
  },

  // ---- Cycles and self-dependencies
  { name: "a batch with a two-step cycle", send: batch(() => [{ key: "a", name: "a", dependsOn: ["b"] }, { key: "b", name: "b", dependsOn: ["a"] }]), code: "BTCYC", message: () => "The batch has a dependency cycle: a → b → a (each depends on the next). Remove one of these dependencies so the steps form a DAG." },
  {
    name: "a batch with a three-step cycle behind a valid step",
    send: batch(() => [{ key: "s", name: "s" }, { key: "a", name: "a", dependsOn: ["s", "c"] }, { key: "b", name: "b", dependsOn: ["a"] }, { key: "c", name: "c", dependsOn: ["b"] }]),
    code: "BTCYC",
    message: () => "The batch has a dependency cycle: a → c → b → a (each depends on the next). Remove one of these dependencies so the steps form a DAG.",
  },
  {
    name: "set-deps closing a cycle through existing steps",
    send: setDeps((f) => f.q.q1, (f) => [f.q.q3]),
    code: "BTCYC",
    message: (f) => `That dependency would create a cycle: q1 (${f.q.q1.slice(0, 8)}) → q3 (${f.q.q3.slice(0, 8)}) → q2 (${f.q.q2.slice(0, 8)}) → q1 (${f.q.q1.slice(0, 8)}) (each depends on the next). Remove one of these dependencies so the steps form a DAG.`,
  },
  { name: "a batch entry depending on its own key", send: batch(() => [{ key: "me", name: "me", dependsOn: ["me"] }]), code: "BTINV", message: () => 'Entry 1 ("me") depends on itself (key "me"); a step cannot depend on itself.' },
  { name: "set-deps of a step on itself", send: setDeps((f) => f.q.q2, (f) => [f.q.q1, f.q.q2]), code: "BTINV", message: (f) => `Step ${f.q.q2} cannot depend on itself.` },

  // ---- Oversized
  {
    name: "a 1 MB task plan in a batch",
    send: batch(() => [{ name: "big", taskPlan: "p".repeat(MIB) }]),
    code: "BTINV",
    message: () => "Entry 1 has a taskPlan of 1048576 bytes; the limit is 102400 bytes (100 KB). Keep long material in the repository and refer to it from the plan.",
  },
  {
    name: "a 1 MB task plan in add-step",
    send: as("owner", ADD, (f) => ({ d: f.d, name: "big", plan: "p".repeat(MIB) })),
    code: "BTINV",
    message: () => "Entry 1 has a taskPlan of 1048576 bytes; the limit is 102400 bytes (100 KB). Keep long material in the repository and refer to it from the plan.",
  },
  { name: "a request body over 4 MiB", send: batch(() => [{ name: "huge", taskPlan: "h".repeat(5 * MIB) }]), status: 413, code: undefined, message: () => /./ },
  {
    name: "10,001 steps in one batch",
    send: batch(() => Array.from({ length: 10001 }, (_, i) => ({ key: `s${i}`, name: `step ${i}` }))),
    code: "BTINV",
    message: () => "The batch has 10001 steps; the limit is 10000 per batch. Split it into several batches; later batches can depend on the ids the earlier ones returned.",
  },

  // ---- NUL bytes
  { name: "a NUL byte in a step name", send: as("owner", ADD, (f) => ({ d: f.d, name: "nul\u0000name" })), code: "22P05", message: () => NUL_MESSAGE },
  { name: "a NUL byte in a batch entry", send: batch(() => [{ name: "ok" }, { name: "nul", description: "a\u0000b" }]), code: "22P05", message: () => NUL_MESSAGE },
  { name: "a NUL byte in a goal", send: as("owner", `mutation ($d: UUID!, $g: String!) { updateGoal(input: { directiveId: $d, goal: $g }) { result { goal } } }`, (f) => ({ d: f.d, g: "goal\u0000" })), code: "22P05", message: () => NUL_MESSAGE },
  { name: "a NUL byte in task output", send: as("daemon", OUTPUT, (f) => ({ t: f.taskRun, chunks: [{ stream: "stdout", text: "out\u0000put" }] })), code: "22P05", message: () => NUL_MESSAGE },

  // ---- Text that is not UTF-8
  {
    name: "raw 0xFF bytes in the request body",
    send: raw((f) => Buffer.concat([Buffer.from(`{"query": "mutation { addStep(input: { directiveId: \\"${f.d}\\", name: \\"a`), Buffer.from([0xff, 0xfe]), Buffer.from(`b\\" }) { result { rowId } } }"}`)])),
    status: 400,
    code: "BAD_USER_INPUT",
    message: () => "The request body is not valid UTF-8 (it has bytes such as 0xFF that encode no character); send the JSON encoded as UTF-8.",
  },
  { name: "a lone high surrogate in a string variable", send: as("owner", ADD, (f) => ({ d: f.d, name: "half \ud800 a character" })), status: 400, code: "BAD_USER_INPUT", message: () => SURROGATE("variables.name") },
  { name: "a lone low surrogate inside a JSON variable", send: batch(() => [{ name: "ok" }, { name: "b", description: "\udc00" }]), status: 400, code: "BAD_USER_INPUT", message: () => SURROGATE("variables.steps[1].description") },
  {
    name: "a lone surrogate escaped in the query text",
    send: raw((f) => JSON.stringify({ query: `mutation { addStep(input: { directiveId: "${f.d}", name: "a\\ud800" }) { result { rowId } } }` })),
    code: undefined,
    message: () => 'Syntax Error: Invalid Unicode escape sequence: "\\ud800".',
  },

  // ---- Transitions out of order
  {
    name: "complete-step on a completed step",
    send: override("completeStep", (f) => f.steps.done),
    code: "BTSTS",
    message: (f) => `Step ${f.steps.done} is completed, so it cannot be completed; only pending, ready, running, failed, blocked steps can. Completed and skipped steps are final; add a new step (add-step) to do more.`,
  },
  {
    name: "fail-step on a completed step",
    send: override("failStep", (f) => f.steps.done),
    code: "BTSTS",
    message: (f) => `Step ${f.steps.done} is completed, so it cannot be failed; only pending, ready, running, blocked steps can. Completed and skipped steps are final; add a new step (add-step) to do more.`,
  },
  { name: "retry-step on a ready step", send: override("retryStep", (f) => f.steps.ready), code: "BTSTS", message: (f) => `Step ${f.steps.ready} is ready, so it cannot be retried; only failed or blocked steps can.` },
  {
    name: "set-deps on a running step",
    send: setDeps((f) => f.steps.run, () => []),
    code: "BTSTS",
    message: (f) => `Step ${f.steps.run} is running, so its dependencies cannot be changed; only pending, ready or blocked steps without a task can.`,
  },
  {
    name: "remove-step of a step others depend on",
    send: as("owner", `mutation ($s: UUID!) { removeStep(input: { stepId: $s }) { result { rowId } } }`, (f) => ({ s: f.q.q1 })),
    code: "BTDEP",
    message: (f) => `Step ${f.q.q1} ("q1") cannot be removed: ${f.q.q2} ("q2") depend on it. Remove or re-wire those steps first (set-deps), or pass force => true (--force) to re-wire them onto this step's own dependencies.`,
  },
  {
    name: "start on an archived directive",
    send: transition("startDirective", (f) => f.archived),
    code: "BTSTS",
    message: (f) => `Directive ${f.archived} is archived, so it cannot be started; only draft or paused directives can. Archiving is final; create a new directive instead.`,
  },
  { name: "start on an active directive", send: transition("startDirective", (f) => f.d), code: "BTSTS", message: (f) => `Directive ${f.d} is active, so it cannot be started; only draft or paused directives can.` },
  { name: "pause on a draft directive", send: transition("pauseDirective", (f) => f.d2), code: "BTSTS", message: (f) => `Directive ${f.d2} is draft, so it cannot be paused; only active or idle directives can.` },
  {
    name: "update-goal on an archived directive",
    send: as("owner", `mutation ($d: UUID!) { updateGoal(input: { directiveId: $d, goal: "new" }) { result { goal } } }`, (f) => ({ d: f.archived })),
    code: "BTSTS",
    message: (f) => `Directive ${f.archived} is archived, so its goal cannot be updated; only draft, active, paused or idle directives can. Create a new directive instead.`,
  },
  { name: "add-step on an archived directive", send: as("owner", ADD, (f) => ({ d: f.archived, name: "late" })), code: "BTSTS", message: (f) => `Directive ${f.archived} is archived, so steps cannot be added to it. Create a new directive instead.` },
  {
    name: "a report on a finished task",
    send: as("daemon", REPORT, (f) => ({ t: f.taskDone, status: "failed" })),
    code: "BTSTL",
    message: (f) => new RegExp(`^Task ${f.taskDone} is already completed \\(version \\d+\\), so this late "failed" report was ignored\\.$`),
  },
  {
    name: "a report against a stale version",
    send: as("daemon", REPORT, (f) => ({ t: f.taskRun, status: "completed", v: 1 })),
    code: "BTSTL",
    message: (f) => new RegExp(`^Task ${f.taskRun} is at version \\d+, but this report was made against version 1; it was ignored\\. Re-read the task and report again if the report still applies\\.$`),
  },
];

describe("bad input through GraphQL", () => {
  const server = useTestServer(db, { worker: false });
  let f: Fixture;

  before(async () => {
    f = await makeFixture(db, server);
  });
  after(() => removeFixture(f));

  for (const c of CASES) {
    it(`refuses ${c.name}${c.code ? ` (${c.code})` : ""}, changing nothing`, async () => {
      const before = await snapshot(db);
      const r = await c.send(server, f);
      assert.equal(r.status, c.status ?? 200, JSON.stringify(r).slice(0, 500));
      assert.equal(r.errors?.length, 1, JSON.stringify(r).slice(0, 500));
      const error = r.errors![0]!;
      assert.equal(error.extensions?.code, c.code, error.message);
      const expected = c.message(f);
      if (typeof expected === "string") assert.equal(error.message, expected);
      else assert.match(error.message, expected);
      for (const value of Object.values(r.data ?? {})) assert.equal(value, null, "the refused field answers null");
      await assertUnchanged(db, before, c.name);
    });
  }

  it("refuses a lone surrogate in a subscription's variables (BAD_USER_INPUT), changing nothing", async () => {
    const before = await snapshot(db);
    const client = wsClient(server, f.owner);
    const sub = subscribe(client, `subscription ($d: UUID!, $note: String) { directiveEvents(directiveId: $d) { kind } }`, { d: f.d, note: "\ud83d" });
    const errors = (await sub.error()) as { message: string; extensions?: { code?: string } }[];
    assert.deepEqual(errors, [{ message: SURROGATE("variables.note"), extensions: { code: "BAD_USER_INPUT" } }]);
    await client.dispose();
    await assertUnchanged(db, before, "the subscription");
  });

  it("still serves a well-formed request with a real emoji (a surrogate pair) afterwards", async () => {
    const r = await post(server, `query ($d: UUID!) { directive(rowId: $d) { title } currentIdentity }`, { d: f.d, unused: "\u{1F600}" }, f.owner);
    assert.equal(r.errors, undefined);
    assert.equal(r.data.directive.title, "Corpus");
  });
});
