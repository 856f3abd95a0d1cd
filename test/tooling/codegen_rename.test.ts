/*
 * Renaming a GraphQL field breaks the build before any end-to-end test runs. In a scratch copy of the
 * project, Task.agentToken (which the daemon hands to every agent) is renamed in the schema:
 *   - codegen refuses the daemon's operation that still asks for the old name;
 *   - once the operation follows the rename, the type-check refuses the daemon code that reads it;
 * and the same scratch copy, unrenamed, generates and type-checks cleanly (so the failures are the rename's).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { codegen, GENERATED, scratchProject, typecheck } from "../helpers/codegen";

const FIELD = "agentToken";
const RENAMED = "agentCredential";

/** The schema with one field of one type renamed. */
function renameField(schema: string, type: string, from: string, to: string): string {
  const start = schema.indexOf(`\ntype ${type} implements`);
  assert.ok(start >= 0, `type ${type} is in the schema`);
  const end = schema.indexOf("\n}", start);
  const body = schema.slice(start, end);
  assert.match(body, new RegExp(`\\n  ${from}: `), `${type}.${from} is in the schema`);
  return schema.slice(0, start) + body.replace(new RegExp(`\\n  ${from}: `), `\n  ${to}: `) + schema.slice(end);
}

describe(`renaming Task.${FIELD} in a scratch copy of the schema`, () => {
  let dir: string;
  const schemaFile = () => path.join(dir, "test", "schema.graphql");
  const daemonOps = () => path.join(dir, "src", "daemon", "graphql", "daemon.graphql");
  before(() => {
    dir = scratchProject();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("type-checks with the schema as committed", async () => {
    fs.rmSync(path.join(dir, GENERATED));
    const gen = await codegen(dir);
    assert.equal(gen.code, 0, gen.output);
    const tsc = await typecheck(dir);
    assert.equal(tsc.code, 0, tsc.output);
  });

  it("fails codegen while an operation still asks for the old name", async () => {
    fs.writeFileSync(schemaFile(), renameField(fs.readFileSync(schemaFile(), "utf8"), "Task", FIELD, RENAMED));
    const gen = await codegen(dir);
    assert.notEqual(gen.code, 0, "codegen accepted an operation on a field the schema no longer has");
    assert.match(gen.output, new RegExp(`Cannot query field "${FIELD}" on type "Task"`));
  });

  it("fails the type-check, naming the field, once the operation follows the rename", async () => {
    const ops = fs.readFileSync(daemonOps(), "utf8");
    assert.ok(ops.includes(FIELD), `the daemon's operations ask for ${FIELD}`);
    fs.writeFileSync(daemonOps(), ops.replaceAll(FIELD, RENAMED));
    const gen = await codegen(dir);
    assert.equal(gen.code, 0, gen.output);
    const tsc = await typecheck(dir);
    assert.notEqual(tsc.code, 0, "the daemon still type-checks against a schema without the field it reads");
    assert.match(tsc.output, new RegExp(`src/daemon/task-runner\\.ts\\(\\d+,\\d+\\): error TS(2339|2551): Property '${FIELD}' does not exist on type`));
  });
});
