/*
 * The bad-input corpus through the real `baton` binary (node bin/baton.js, one process per case)
 * against a real server: malformed and mistyped JSON, ids that are not UUIDs, unknown and
 * cross-directive ids, cycles, self-dependencies, a 1 MB plan, NUL bytes, files that are not UTF-8,
 * 10,001 steps, and transitions out of order. Each case exits 2 (usage: the CLI refused the input
 * itself) or 1 (the server refused it) with exactly one line on stderr saying what was wrong, prints
 * nothing on stdout, and leaves the database unchanged. Then 10,000 steps, the documented limit of a
 * batch, are accepted.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { useTestServer } from "../helpers/api";
import { useTestDatabase } from "../helpers/db";
import { cli } from "../helpers/e2e";
import { assertUnchanged, changedTables, snapshot } from "../helpers/snapshot";
import { makeFixture, removeFixture, type Fixture } from "./support";

const db = useTestDatabase();

type CliCase = {
  name: string;
  /** The arguments after `baton`; the string FILE stands for the path of `file`. */
  args: (f: Fixture) => string[];
  file?: (f: Fixture) => string | Buffer;
  stdin?: (f: Fixture) => string | Buffer;
  env?: (f: Fixture) => NodeJS.ProcessEnv;
  exit: 1 | 2;
  /** The one stderr line, without the `baton: ` prefix and the newline. */
  stderr: (f: Fixture, file: string) => string | RegExp;
};

const ZERO = "00000000-0000-4000-8000-000000000000";
const ENTRY_SHAPE = 'Each entry is {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?, "timeout"?, "stall"?, "agent"?}.';
const NOT_UTF8 = "is not valid UTF-8 (it has bytes such as 0xFF that encode no character); save it as UTF-8 and try again.";
const UUID_HINT = "must be a UUID such as 3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f";
const batchAdd = (f: Fixture, ...rest: string[]) => ["directive", "batch-add-steps", "--directive", f.d, ...rest];
const steps = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ key: `s${i}`, name: `step ${i}`, ...(i > 0 ? { dependsOn: [`s${Math.floor((i - 1) / 2)}`] } : {}) })));

const CASES: CliCase[] = [
  // ---- Refused by the CLI itself (exit 2)
  {
    name: "steps that are not JSON",
    args: (f) => batchAdd(f, "--json", "not json"),
    exit: 2,
    stderr: () => /^The steps are not valid JSON \(Unexpected token .*\); give an array like \[\{"key": "a", "name": "First step"\}\]\.$/,
  },
  { name: "steps that are an object", args: (f) => batchAdd(f, "--json", '{"name": "x"}'), exit: 2, stderr: () => `Invalid batch: Invalid input: expected array, received object. ${ENTRY_SHAPE}` },
  { name: "an empty batch", args: (f) => batchAdd(f, "--json", "[]"), exit: 2, stderr: () => `Invalid batch: the batch is empty; give at least one step. ${ENTRY_SHAPE}` },
  { name: "a name that is a number", args: (f) => batchAdd(f, "--json", '[{"name": 5}]'), exit: 2, stderr: () => `Invalid batch: entry 1, field "name": Invalid input: expected string, received number. ${ENTRY_SHAPE}` },
  {
    name: "dependsOn that is a string",
    args: (f) => batchAdd(f, "--json", '[{"key": "a", "name": "a"}, {"name": "b", "dependsOn": "a"}]'),
    exit: 2,
    stderr: () => `Invalid batch: entry 2, field "dependsOn": Invalid input: expected array, received string. ${ENTRY_SHAPE}`,
  },
  { name: "an unknown field", args: (f) => batchAdd(f, "--json", '[{"name": "x", "after": ["y"]}]'), exit: 2, stderr: () => `Invalid batch: entry 1: Unrecognized key: "after". ${ENTRY_SHAPE}` },
  { name: "an order index that is not a number", args: (f) => ["directive", "add-step", "x", "--directive", f.d, "--order-index", "abc"], exit: 2, stderr: () => '--order-index must be an integer (got "abc").' },
  { name: "a step id that is not a UUID", args: () => ["directive", "set-deps", "not-a-uuid", ""], exit: 2, stderr: () => `STEP_ID ${UUID_HINT} (got "not-a-uuid"); \`baton directive status\` lists the ids.` },
  { name: "a dependency id that is not a UUID", args: (f) => ["directive", "set-deps", f.q.q3, `${f.q.q1},q2`], exit: 2, stderr: () => `Each dependency id ${UUID_HINT} (got "q2"); \`baton directive status\` lists the ids.` },
  { name: "a directive id that is not a UUID", args: () => ["directive", "start", "--directive", "nope"], exit: 2, stderr: () => `The directive id ${UUID_HINT} (got "nope"); \`baton directive status\` lists the ids.` },
  { name: "a file that does not exist", args: (f) => batchAdd(f, "--file", path.join(f.dir, "missing.json")), exit: 2, stderr: (f) => `The file ${path.join(f.dir, "missing.json")} does not exist.` },
  { name: "a file with raw 0xFF bytes", args: (f) => batchAdd(f, "--file", "FILE"), file: () => Buffer.concat([Buffer.from('[{"name": "a'), Buffer.from([0xff]), Buffer.from('b"}]')]), exit: 2, stderr: (_f, file) => `The file ${file} ${NOT_UTF8}` },
  {
    name: "a file with a lone surrogate encoded as bytes (CESU-8 ED A0 80)",
    args: (f) => batchAdd(f, "--file", "FILE"),
    file: () => Buffer.concat([Buffer.from('[{"name": "a'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('b"}]')]),
    exit: 2,
    stderr: (_f, file) => `The file ${file} ${NOT_UTF8}`,
  },
  { name: "stdin with raw 0xFF bytes", args: (f) => batchAdd(f), stdin: () => Buffer.concat([Buffer.from('[{"name": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]')]), exit: 2, stderr: () => `The input on stdin ${NOT_UTF8}` },
  {
    name: "a file with a raw NUL byte inside a string",
    args: (f) => batchAdd(f, "--file", "FILE"),
    file: () => Buffer.from('[{"name": "a\u0000b"}]'),
    exit: 2,
    stderr: () => /^The steps are not valid JSON \(Bad control character in string literal in JSON at position 12.*\); give an array like/,
  },

  // ---- Refused by the server (exit 1)
  {
    name: "a dependency that does not exist",
    args: (f) => ["directive", "add-step", "x", "--directive", f.d, "--depends-on", ZERO],
    exit: 1,
    stderr: (f) => `Entry 1 ("x") depends on "${ZERO}", which is neither a key in this batch nor a step of directive ${f.d}. Use a key defined in this batch, or a step id from \`baton directive status\`.`,
  },
  {
    name: "a dependency on a step of another directive",
    args: (f) => ["directive", "add-step", "x", "--directive", f.d, "--depends-on", f.q.q1],
    exit: 1,
    stderr: (f) => `Entry 1 ("x") depends on step ${f.q.q1}, which belongs to another directive (${f.d2}); a step can only depend on steps of its own directive.`,
  },
  { name: "set-deps to another owner's step", args: (f) => ["directive", "set-deps", f.q.q3, f.stepB], exit: 1, stderr: (f) => `Step ${f.stepB} does not exist. See the steps of the directive with \`baton directive status\`.` },
  {
    name: "a batch file with a cycle",
    args: (f) => batchAdd(f, "--file", "FILE"),
    file: () => JSON.stringify([{ key: "x", name: "x", dependsOn: ["z"] }, { key: "y", name: "y", dependsOn: ["x"] }, { key: "z", name: "z", dependsOn: ["y"] }]),
    exit: 1,
    stderr: () => "The batch has a dependency cycle: x → z → y → x (each depends on the next). Remove one of these dependencies so the steps form a DAG.",
  },
  { name: "set-deps of a step on itself", args: (f) => ["directive", "set-deps", f.q.q2, f.q.q2], exit: 1, stderr: (f) => `Step ${f.q.q2} cannot depend on itself.` },
  {
    name: "a 1 MB task plan in a file",
    args: (f) => batchAdd(f, "--file", "FILE"),
    file: () => JSON.stringify([{ name: "big", taskPlan: "p".repeat(1024 * 1024) }]),
    exit: 1,
    stderr: () => "Entry 1 has a taskPlan of 1048576 bytes; the limit is 102400 bytes (100 KB). Keep long material in the repository and refer to it from the plan.",
  },
  { name: "an empty goal", args: (f) => ["directive", "update-goal", "", "--directive", f.d], exit: 1, stderr: () => "The goal must not be empty." },
  {
    name: "a file with a lone surrogate escaped in JSON",
    args: (f) => batchAdd(f, "--file", "FILE"),
    file: () => '[{"name": "ok"}, {"name": "half \\ud800 of it"}]',
    exit: 1,
    stderr: () => "The text at variables.steps[1].name contains a lone UTF-16 surrogate (such as \\ud800), which is half of a character, not text; send valid Unicode.",
  },
  { name: "a file with an escaped NUL", args: (f) => batchAdd(f, "--file", "FILE"), file: () => '[{"name": "nul \\u0000 here"}]', exit: 1, stderr: () => "The input contains a character PostgreSQL cannot store (such as a NUL byte)." },
  {
    name: "10,001 steps on stdin",
    args: (f) => batchAdd(f),
    stdin: () => steps(10001),
    exit: 1,
    stderr: () => "The batch has 10001 steps; the limit is 10000 per batch. Split it into several batches; later batches can depend on the ids the earlier ones returned.",
  },
  {
    name: "complete-step on a completed step",
    args: (f) => ["directive", "complete-step", f.steps.done],
    exit: 1,
    stderr: (f) => `Step ${f.steps.done} is completed, so it cannot be completed; only pending, ready, running, failed, blocked steps can. Completed and skipped steps are final; add a new step (add-step) to do more.`,
  },
  {
    name: "set-deps on a running step",
    args: (f) => ["directive", "set-deps", f.steps.run, ""],
    exit: 1,
    stderr: (f) => `Step ${f.steps.run} is running, so its dependencies cannot be changed; only pending, ready or blocked steps without a task can.`,
  },
  {
    name: "start of an archived directive",
    args: (f) => ["directive", "start", "--directive", f.archived],
    exit: 1,
    stderr: (f) => `Directive ${f.archived} is archived, so it cannot be started; only draft or paused directives can. Archiving is final; create a new directive instead.`,
  },
  { name: "a forged token", args: (f) => ["directive", "pause", "--directive", f.d], env: (f) => ({ ...f.env, BATON_TOKEN: `${f.owner.slice(0, -6)}AAAAAA` }), exit: 1, stderr: () => "The token's signature is invalid (it was not issued by this Baton server)." },
];

describe("bad input through the CLI", () => {
  const server = useTestServer(db, { worker: false });
  let f: Fixture;

  before(async () => {
    f = await makeFixture(db, server);
  });
  after(() => removeFixture(f));

  CASES.forEach((c, i) => {
    it(`refuses ${c.name} (exit ${c.exit}), changing nothing`, async () => {
      const file = path.join(f.dir, `case-${i}.json`);
      if (c.file) fs.writeFileSync(file, c.file(f));
      const args = c.args(f).map((a) => (a === "FILE" ? file : a));
      const before = await snapshot(db);
      const r = await cli(args, { env: c.env?.(f) ?? f.env, input: c.stdin?.(f) as string | undefined });
      assert.equal(r.code, c.exit, `exit ${r.code}; stderr: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^baton: [^\n]*\n$/, "one line on stderr");
      const line = r.stderr.slice("baton: ".length, -1);
      const expected = c.stderr(f, file);
      if (typeof expected === "string") assert.equal(line, expected);
      else assert.match(line, expected);
      await assertUnchanged(db, before, c.name);
    });
  });

  it("accepts 10,000 steps in one batch on stdin, the documented limit, and prints their ids", async () => {
    const d3 = (await db.pool.query<{ id: string }>("select id from baton.create_directive('Ten thousand', 'Many steps', owner_id => $1)", [f.ownerA])).rows[0]!.id;
    const before = await snapshot(db);
    const r = await cli(["directive", "batch-add-steps", "--directive", d3], { env: f.env, input: steps(10000) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const printed = r.stdout.trim().split("\n");
    assert.equal(printed.length, 10000);
    const rows = (
      await db.pool.query(
        `select (select count(*)::int from baton.directive_steps where directive_id = $1) as steps,
                (select count(*)::int from baton.step_dependencies where directive_id = $1) as dependencies,
                (select count(*)::int from baton.directive_steps where directive_id = $1 and id = any ($2::uuid[])) as printed`,
        [d3, printed],
      )
    ).rows[0];
    assert.deepEqual(rows, { steps: 10000, dependencies: 9999, printed: 10000 });
    // A draft directive: its counters, the steps, their edges and events change; nothing is enqueued, no task is made.
    const after = await snapshot(db);
    assert.deepEqual(
      changedTables(before, after).map((t) => t.split(" ")[0]),
      ["baton.directives", "baton.directive_steps", "baton.step_dependencies", "baton.events"],
    );
    assert.equal(after["baton.directive_steps"]!.rows - before["baton.directive_steps"]!.rows, 10000);
    assert.ok(after["baton.events"]!.rows - before["baton.events"]!.rows >= 10000, "an event per step");
  });
});
