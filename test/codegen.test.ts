/*
 * The committed operation types (src/client/generated/graphql.ts) are what `npm run codegen` makes of
 * the committed schema (test/schema.graphql) and the operations under src/, so a fresh clone
 * type-checks without running codegen, and a schema or operation change shows in review.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import { codegen, GENERATED, ROOT } from "./helpers/codegen";

it("the committed operation types are current (regenerate with `npm run codegen`)", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-codegen-"));
  try {
    const out = path.join(dir, "graphql.ts");
    const r = await codegen(ROOT, { BATON_CODEGEN_OUT: out });
    assert.equal(r.code, 0, r.output);
    assert.equal(fs.readFileSync(path.join(ROOT, GENERATED), "utf8"), fs.readFileSync(out, "utf8"), "src/client/generated/graphql.ts is stale: run `npm run codegen` and commit it");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** The document argument of every request and subscription under src/cli and src/daemon (generics kept, so `request<{…}>` shows). */
function requestCalls(): { file: string; arg: string }[] {
  const calls: { file: string; arg: string }[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) walk(full);
      else if (e.name.endsWith(".ts")) {
        const text = fs.readFileSync(full, "utf8");
        const file = path.relative(ROOT, full);
        for (const m of text.matchAll(/\.request(<[^(]*>)?\(\s*([^,)]*)/g)) calls.push({ file, arg: (m[1] ?? "") + m[2]!.trim() });
        for (const m of text.matchAll(/\bsubscribe(<[^(]*>)?\(\s*[^,]+,\s*([^,)]*)/g)) calls.push({ file, arg: (m[1] ?? "") + m[2]!.trim() });
      }
    }
  };
  for (const d of ["cli", "daemon"]) walk(path.join(ROOT, "src", d));
  return calls;
}

it("the CLI and the daemon send only generated typed documents, never hand-typed query strings", () => {
  const calls = requestCalls();
  assert.ok(calls.length >= 25, `found ${calls.length} requests; the scan is broken`);
  const untyped = calls.filter((c) => !/^\w+Document$/.test(c.arg));
  assert.deepEqual(untyped, [], "write the operation in a .graphql file under src/, run `npm run codegen`, and pass its XxxDocument");
});
