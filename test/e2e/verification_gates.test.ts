/*
 * Verification gates with real processes: a server, a daemon, a git repository and a scripted agent.
 *
 * Directive "Gated": a directive check (`test -f b.txt`) and two steps. "Build" has a check of its
 * own (it replaces the directive's): done.txt must say `good`. Its agent writes `bad` on the first
 * attempt and `good` when its prompt says it is attempt 2, so the check fails once: the attempt fails
 * with the check's command and output tail, the retry's prompt quotes both, and the retry passes.
 * "Use" depends on it and has no check of its own, so the directive's applies (its agent writes b.txt).
 *
 * Directive "Never": a step whose check always fails, and a dependent: both attempts fail at their
 * check, the step fails, and the dependent is blocked without ever getting a task.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { cli, cliJson, cliOk, git, makeRepo, startDaemon, startServer, useE2E, writeAgent } from "../helpers/e2e";

const e2e = useE2E();

type Step = { rowId: string; name: string; status: string; checkCommand: string | null; currentTask: { rowId: string; status: string; commitSha: string | null } | null };
type Task = { rowId: string; kind: string; status: string; stepId: string | null; attempt: number | null; commitSha: string | null; checkCommand: string | null; error: string | null };
type Status = { directive: { status: string; checkCommand: string | null }; steps: Step[]; tasks: Task[] };

const BUILD_CHECK = `grep -q good done.txt || { echo "done.txt says: $(cat done.txt)"; echo "the check wants good" >&2; exit 3; }`;
const DIRECTIVE_CHECK = "test -f b.txt";

// The agent keeps each prompt it gets, then does its step's work.
const AGENT = `#!/bin/sh
set -e
cp "$BATON_PROMPT_FILE" "$E2E_MARKS/$BATON_TASK_ID.prompt"
if grep -q '^# Your step: Build' "$BATON_PROMPT_FILE"; then
  if grep -q '^# This is attempt 2' "$BATON_PROMPT_FILE"; then echo good > done.txt; else echo bad > done.txt; fi
elif grep -q '^# Your step: Use' "$BATON_PROMPT_FILE"; then
  echo b > b.txt
else
  echo "$BATON_STEP_ID" > never.txt
fi
echo "agent done"
`;

describe("verification gates", () => {
  it("fail an attempt whose check fails, quote the check in the retry's prompt, and hold dependents back", async (t) => {
    const marks = e2e.tempDir("marks");
    const repo = makeRepo(e2e);
    const server = await startServer(e2e);
    const daemon = startDaemon(e2e, server, { agentCommand: writeAgent(e2e, AGENT), maxTasks: 3, env: { E2E_MARKS: marks } });

    // Steps added before the first start are the plan: no planner runs.
    const gated = await cliJson<{ rowId: string; checkCommand: string }>(
      ["directive", "create", "--title", "Gated", "--goal", "Build, then use it", "--repo", repo, "--check", DIRECTIVE_CHECK],
      { env: server.env },
    );
    assert.equal(gated.checkCommand, DIRECTIVE_CHECK);
    const env = { ...server.env, BATON_DIRECTIVE_ID: gated.rowId };
    const steps = [
      { key: "build", name: "Build", check: BUILD_CHECK },
      { key: "use", name: "Use", dependsOn: ["build"] },
    ];
    await cliOk(["directive", "batch-add-steps", "--json", JSON.stringify(steps)], { env });

    const never = await cliJson<{ rowId: string }>(["directive", "create", "--title", "Never", "--goal", "A check that never passes", "--repo", repo], { env: server.env });
    const neverEnv = { ...server.env, BATON_DIRECTIVE_ID: never.rowId };
    const first = (await cliOk(["directive", "add-step", "Never passes", "--check", "echo 'not today' && false"], { env: neverEnv })).trim();
    await cliOk(["directive", "add-step", "After it", "--depends-on", first], { env: neverEnv });

    await daemon;
    await cliOk(["directive", "start"], { env });
    await cliOk(["directive", "start"], { env: neverEnv });

    const status = (e: NodeJS.ProcessEnv) => cliJson<Status>(["directive", "status"], { env: e });
    const step = (s: Status, name: string) => s.steps.find((x) => x.name === name)!;
    const tasksOf = (s: Status, name: string) => s.tasks.filter((x) => x.stepId === step(s, name).rowId).sort((a, b) => a.attempt! - b.attempt!);

    await t.test("watch exits 0 once both steps pass their checks", async () => {
      const watched = await cli(["directive", "watch"], { env, timeoutMs: 120_000 });
      assert.equal(watched.code, 0, watched.stdout + watched.stderr);
    });

    let s = {} as Status;
    await t.test("Build's first attempt failed at its own check, with the command and the tail of its output; the second passed", async () => {
      s = await status(env);
      assert.equal(s.directive.checkCommand, DIRECTIVE_CHECK);
      assert.equal(step(s, "Build").checkCommand, BUILD_CHECK);
      const [one, two] = tasksOf(s, "Build");
      assert.deepEqual([one?.status, two?.status], ["failed", "completed"]);
      assert.equal(one!.checkCommand, BUILD_CHECK, "a step's own check replaces the directive's");
      assert.equal(
        one!.error,
        `The check \`${BUILD_CHECK}\` exited with status 3; the end of its output:\ndone.txt says: bad\nthe check wants good`,
      );
      assert.equal(git(repo, "show", `${two!.commitSha}:done.txt`), "good");
    });

    await t.test("the retry's prompt holds the check's command and the failed check's output", () => {
      const [, two] = tasksOf(s, "Build");
      const prompt = fs.readFileSync(path.join(marks, `${two!.rowId}.prompt`), "utf8");
      assert.ok(prompt.includes(`# Acceptance check\n`), prompt);
      assert.ok(prompt.includes("```sh\n" + BUILD_CHECK + "\n```"), prompt);
      assert.ok(prompt.includes(`The previous attempt failed with:\n\`\`\`\nThe check \`${BUILD_CHECK}\` exited with status 3; the end of its output:\ndone.txt says: bad\nthe check wants good\n\`\`\``), prompt);
    });

    await t.test("Use ran the directive's check, and only after Build passed its check", async () => {
      const [use] = tasksOf(s, "Use");
      assert.equal(use!.checkCommand, DIRECTIVE_CHECK);
      assert.equal(use!.status, "completed");
      assert.equal(git(repo, "show", `${use!.commitSha}:b.txt`), "b");
      const { rows } = await e2e.db.pool.query<{ step: string; from_status: string; to_status: string }>(
        `select s.name as step, e.from_status, e.to_status from baton.events e join baton.directive_steps s on s.id = e.subject_id
          where e.directive_id = $1 and e.subject_type = 'step' and e.kind = 'status_changed' order by e.id`,
        [gated.rowId],
      );
      const order = rows.map((r) => `${r.step}: ${r.from_status} -> ${r.to_status}`);
      assert.ok(order.indexOf("Use: pending -> ready") > order.indexOf("Build: running -> completed"), order.join("\n"));
    });

    await t.test("the event history shows the check as a phase of each attempt", async () => {
      const { rows } = await e2e.db.pool.query<{ attempt: number; phases: string }>(
        `select t.attempt, string_agg(e.to_status, ' -> ' order by e.id) as phases
           from baton.tasks t join baton.events e on e.subject_id = t.id
          where t.step_id = $1 group by t.attempt order by t.attempt`,
        [step(s, "Build").rowId],
      );
      assert.deepEqual(rows, [
        { attempt: 1, phases: "pending -> starting -> running -> checking -> failed" },
        { attempt: 2, phases: "pending -> starting -> running -> checking -> completed" },
      ]);
      const events = await cliOk(["directive", "events"], { env });
      assert.match(events, /task [0-9a-f]{8} \(execution\) {2}running -> checking \(the agent exited 0; its check runs\)/);
      assert.match(events, /checking -> failed: The check `grep -q good done\.txt .*` exited with status 3: the check wants good \(see `baton task logs /);
    });

    await t.test("task logs shows the check's output after the agent's, between marker lines", async () => {
      const [one] = tasksOf(s, "Build");
      const logs = await cli(["task", "logs", one!.rowId], { env });
      assert.equal(logs.code, 0, logs.stderr);
      assert.ok(
        logs.stdout.includes(`agent done\n\n[baton] The agent exited 0. Running the check: ${BUILD_CHECK}\n`),
        logs.stdout,
      );
      assert.match(logs.stdout, /done\.txt says: bad\n/);
      assert.match(logs.stdout, /the check wants good\n/);
      assert.ok(logs.stdout.endsWith("[baton] The check failed: exit status 3.\n"), logs.stdout);
    });

    await t.test("directive status shows the checks", async () => {
      const out = await cliOk(["directive", "status"], { env });
      assert.match(out, new RegExp(`^check: ${DIRECTIVE_CHECK}$`, "m"));
      assert.ok(out.includes(`  Build\n    check: ${BUILD_CHECK}\n`), out);
    });

    await t.test("a step whose check never passes fails, and its dependent is blocked without ever starting", async () => {
      const watched = await cli(["directive", "watch"], { env: neverEnv, timeoutMs: 120_000 });
      assert.equal(watched.code, 1, watched.stdout + watched.stderr);
      const n = await status(neverEnv);
      assert.deepEqual([step(n, "Never passes").status, step(n, "After it").status], ["failed", "blocked"]);
      assert.deepEqual(tasksOf(n, "Never passes").map((x) => [x.status, x.error]), [
        ["failed", "The check `echo 'not today' && false` exited with status 1; the end of its output:\nnot today"],
        ["failed", "The check `echo 'not today' && false` exited with status 1; the end of its output:\nnot today"],
      ]);
      assert.deepEqual(tasksOf(n, "After it"), [], "the dependent of a step whose check failed never gets a task");
      const out = await cliOk(["directive", "status"], { env: neverEnv });
      assert.match(out, /last error: The check `echo 'not today' && false` exited with status 1: not today \(see `baton task logs /);
    });
  });
});

describe("checks given on the command line", () => {
  it("refuse an empty or overlong check, and update or remove a directive's check", async () => {
    const server = await startServer(e2e);
    const env = server.env;
    const empty = await cli(["directive", "create", "--title", "T", "--goal", "G", "--check", "  "], { env });
    assert.deepEqual([empty.code, empty.stderr], [1, 'baton: The check is empty; give a shell command such as "npm test", or leave the check out.\n']);

    const d = await cliJson<{ rowId: string; checkCommand: string | null }>(["directive", "create", "--title", "T", "--goal", "G"], { env });
    assert.equal(d.checkCommand, null);
    const denv = { ...env, BATON_DIRECTIVE_ID: d.rowId };

    const long = await cli(["directive", "add-step", "S", "--check", "x".repeat(5000)], { env: denv });
    assert.deepEqual([long.code, long.stderr], [1, "baton: The check is 5000 bytes; the limit is 4096 bytes. Put a long check in a script in the repository and give the command that runs it, e.g. \"sh scripts/check.sh\".\n"]);
    const badType = await cli(["directive", "batch-add-steps", "--json", JSON.stringify([{ name: "S", check: 5 }])], { env: denv });
    assert.equal(badType.code, 2, badType.stderr);
    assert.match(badType.stderr, /^baton: Invalid batch: entry 1, field "check": .*Each entry is \{"key"\?, "name", "description"\?, "taskPlan"\?, "dependsOn"\?: \[\.\.\.\], "orderIndex"\?, "check"\?[^}]*\}\.\n$/);
    const blank = await cli(["directive", "batch-add-steps", "--json", JSON.stringify([{ name: "S" }, { name: "T", check: "" }])], { env: denv });
    assert.deepEqual([blank.code, blank.stderr], [1, 'baton: The check of entry 2 is empty; give a shell command such as "npm test", or leave the check out.\n']);
    const { rows } = await e2e.db.pool.query("select 1 from baton.directive_steps where directive_id = $1", [d.rowId]);
    assert.equal(rows.length, 0, "a refused batch adds nothing");

    const nothing = await cli(["directive", "update"], { env: denv });
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /^baton: Nothing to update: give --check "COMMAND"(, | or )--no-check[^\n]*\.\n$/);
    assert.equal(await cliOk(["directive", "update", "--check", "npm test"], { env: denv }), `Check of ${d.rowId} set: npm test\n`);
    assert.equal((await cliJson<{ checkCommand: string }>(["directive", "update", "--check", "make check"], { env: denv })).checkCommand, "make check");
    assert.equal(await cliOk(["directive", "update", "--no-check"], { env: denv }), `Check of ${d.rowId} removed.\n`);
    const tooLong = await cli(["directive", "update", "--check", "y".repeat(4097)], { env: denv });
    assert.deepEqual([tooLong.code, tooLong.stderr], [1, "baton: The check is 4097 bytes; the limit is 4096 bytes. Put a long check in a script in the repository and give the command that runs it, e.g. \"sh scripts/check.sh\".\n"]);
    const help = await cliOk(["directive", "add-step", "--help"], { env });
    assert.match(help, /replaces the directive's check/);
  });
});
