/*
 * Running graphql-codegen and tsc the way `npm run codegen` and `npm run typecheck` do, in a scratch
 * copy of the project when a test changes the schema or the operations.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const ROOT = path.join(__dirname, "..", "..");
export const GENERATED = path.join("src", "client", "generated", "graphql.ts");
const BIN = path.join(ROOT, "node_modules", ".bin");

export type Run = { code: number; output: string };

export function run(command: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(BIN, command), args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

/** graphql-codegen with the project's codegen.ts, run in `cwd` (which holds src/ and codegen.ts). */
export function codegen(cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return run("graphql-codegen", ["--config", "codegen.ts"], { cwd, env });
}

/**
 * A scratch copy of what the type-check of src/ needs: src/, codegen.ts, the schema, a tsconfig that
 * extends the project's, and node_modules linked. Removed with `fs.rmSync(dir, { recursive: true })`.
 */
export function scratchProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-codegen-"));
  fs.cpSync(path.join(ROOT, "src"), path.join(dir, "src"), { recursive: true });
  fs.mkdirSync(path.join(dir, "test"));
  fs.copyFileSync(path.join(ROOT, "test", "schema.graphql"), path.join(dir, "test", "schema.graphql"));
  fs.copyFileSync(path.join(ROOT, "codegen.ts"), path.join(dir, "codegen.ts"));
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
  fs.writeFileSync(
    path.join(dir, "tsconfig.json"),
    JSON.stringify({ extends: path.join(ROOT, "tsconfig.json"), compilerOptions: { noEmit: true, incremental: true, tsBuildInfoFile: path.join(dir, "tsbuildinfo") }, include: ["src"] }),
  );
  return dir;
}

/** tsc --noEmit on a scratch project's src/. */
export function typecheck(dir: string): Promise<Run> {
  return run("tsc", ["-p", path.join(dir, "tsconfig.json")], { cwd: dir });
}
