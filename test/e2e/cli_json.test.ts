/*
 * `--json` output of the real `baton` binary parses as JSON, with the fields scripts use. One
 * directive is created and given steps in `before`; each test reads one command's output.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { cliJson, startServer, useE2E, type ServerProcess } from "../helpers/e2e";

const e2e = useE2E();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: ServerProcess;
let env: NodeJS.ProcessEnv;
let created: { rowId: string; title: string; goal: string; status: string; baseBranch: string };
let added: { rowId: string; name: string; status: string };
let batch: { rowId: string; name: string; status: string }[];

before(async () => {
  server = await startServer(e2e);
  created = await cliJson(["directive", "create", "--title", "JSON", "--goal", "Print machine-readable output"], { env: server.env });
  env = { ...server.env, BATON_DIRECTIVE_ID: created.rowId };
  added = await cliJson(["directive", "add-step", "Lay the foundation", "--task-plan", "Create foundation.md"], { env });
  // batch-add-steps --json STEPS both takes the steps and asks for JSON output.
  batch = await cliJson(["directive", "batch-add-steps", "--json", JSON.stringify([{ key: "walls", name: "Raise the walls", dependsOn: [added.rowId] }, { name: "Put on the roof", dependsOn: ["walls"] }])], { env });
});

describe("--json output", () => {
  it("directive create prints the new directive", () => {
    assert.match(created.rowId, UUID);
    assert.deepEqual([created.title, created.goal, created.status, created.baseBranch], ["JSON", "Print machine-readable output", "draft", "main"]);
  });

  it("directive list prints an array of directives with their step counts", async () => {
    const list = await cliJson<{ rowId: string; status: string; directiveSteps: { totalCount: number } }[]>(["directive", "list"], { env });
    assert.deepEqual(list.map((d) => [d.rowId, d.status, d.directiveSteps.totalCount]), [[created.rowId, "draft", 3]]);
    assert.deepEqual((await cliJson<{ rowId: string }[]>(["directive", "list", "--status", "draft"], { env })).map((d) => d.rowId), [created.rowId]);
    assert.deepEqual(await cliJson(["directive", "list", "--status", "active"], { env }), []);
  });

  it("directive add-step prints the new step", () => {
    assert.match(added.rowId, UUID);
    assert.deepEqual([added.name, added.status], ["Lay the foundation", "ready"]);
  });

  it("directive batch-add-steps prints the new steps in input order", () => {
    assert.deepEqual(batch.map((s) => s.name), ["Raise the walls", "Put on the roof"]);
    for (const s of batch) assert.match(s.rowId, UUID);
  });

  it("directive status prints the directive, every step with dependsOn, and the tasks", async () => {
    const status = await cliJson<{ directive: { rowId: string; status: string }; steps: { rowId: string; name: string; status: string; dependsOn: string[] }[]; tasks: unknown[] }>(["directive", "status"], { env });
    assert.equal(status.directive.rowId, created.rowId);
    assert.deepEqual(
      status.steps.map((s) => [s.rowId, s.name, s.dependsOn]),
      [
        [added.rowId, "Lay the foundation", []],
        [batch[0]!.rowId, "Raise the walls", [added.rowId]],
        [batch[1]!.rowId, "Put on the roof", [batch[0]!.rowId]],
      ],
    );
    assert.deepEqual(status.tasks, []);
  });

  it("directive graph prints the format, the graph text and the steps", async () => {
    const graph = await cliJson<{ format: string; graph: string; steps: { id: string; dependsOn: string[] }[] }>(["directive", "graph", "--format", "dot"], { env });
    assert.equal(graph.format, "dot");
    assert.match(graph.graph, /^digraph directive \{/);
    assert.deepEqual(graph.steps.map((s) => [s.id, s.dependsOn]), [[added.rowId, []], [batch[0]!.rowId, [added.rowId]], [batch[1]!.rowId, [batch[0]!.rowId]]]);
  });
});
