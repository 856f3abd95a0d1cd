/*
 * What dispatch_steps puts in an execution prompt: the step, its dependencies' branches and commits,
 * and, after a failure, the attempt and the previous error (also after retry-step).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { useTestDatabase } from "../helpers/db";
import { FakeDaemon } from "../helpers/fake-daemon";
import { createDirective, createOwner, stepStatus, tasksOf } from "../helpers/orchestrator";
import { waitFor } from "../helpers/wait";
import { useTestWorker } from "../helpers/worker";

const db = useTestDatabase();

describe("the execution prompt of a dispatched step", () => {
  useTestWorker(db);

  it("names the dependency's branch and commit, and gives attempt 2 the error of attempt 1", async () => {
    const owner = await createOwner(db, "prompt-retry");
    const daemon = await FakeDaemon.start(db, {
      ownerId: owner,
      behaviour: async (task, self) => {
        if (task.attempt === 1 && task.prompt?.includes("# Your step: build")) {
          await self.report(task.id, "failed", "cc: error: missing semicolon");
          return "hold" as const;
        }
        await self.query("select baton.report_task_status(task_id => $1, status => 'completed', branch => 'baton/x', commit_sha => 'abc123', daemon_id => $2)", [task.id, self.id]);
        return "hold" as const;
      },
    });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, {
      title: "Compiler",
      goal: "Make it compile",
      steps: [
        { key: "setup", name: "setup" },
        { key: "build", name: "build", dependsOn: ["setup"], description: "Compile everything", taskPlan: "Run make" },
      ],
    });
    await waitFor(async () => (await stepStatus(db, d.steps.build!)) === "completed", { what: "build completed" });
    const [attempt1, attempt2] = await tasksOf(db, { stepId: d.steps.build });
    assert.doesNotMatch(attempt1!.prompt!, /previous attempt/);
    for (const text of ["Directive: Compiler", "Make it compile", "# Your step: build", `Step id: ${d.steps.build}`, "Compile everything", "# Plan\nRun make", "- setup (completed, branch baton/x, commit abc123)"]) {
      assert.ok(attempt1!.prompt!.includes(text), `attempt 1's prompt contains ${JSON.stringify(text)}`);
    }
    assert.ok(attempt2!.prompt!.includes("# This is attempt 2 of 2\nThe previous attempt failed with:\n```\ncc: error: missing semicolon\n```"));
    assert.deepEqual(daemon.errors, []);
  });

  it("gives a step retried by hand the error of its last failed attempt", async () => {
    const owner = await createOwner(db, "prompt-manual-retry");
    let failures = 0;
    const daemon = await FakeDaemon.start(db, {
      ownerId: owner,
      behaviour: () => (failures++ < 2 ? "failed" : "completed"),
    });
    after(() => daemon.stop());
    const d = await createDirective(db, owner, { steps: [{ name: "flaky" }] });
    await waitFor(async () => (await stepStatus(db, d.steps.flaky!)) === "failed", { what: "the step failed twice" });
    await db.pool.query("select baton.retry_step($1)", [d.steps.flaky]);
    await waitFor(async () => (await stepStatus(db, d.steps.flaky!)) === "completed", { what: "the retried step completed" });
    const tasks = await tasksOf(db, { stepId: d.steps.flaky });
    assert.deepEqual(tasks.map((t) => [t.attempt, t.status]), [
      [1, "failed"],
      [2, "failed"],
      [3, "completed"],
    ]);
    assert.ok(tasks[2]!.prompt!.includes("# This step runs again after it failed\nThe previous attempt failed with:\n```\nthe fake agent failed\n```"));
    assert.deepEqual(daemon.errors, []);
  });
});
