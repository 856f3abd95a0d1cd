/*
 * Checks that the shell commands a prompt shows are runnable as written: each ```sh block (and each
 * inline `baton ...` span) runs in a real `sh` with a stub `baton` that records its argv, and every
 * recorded command line is parsed by the real CLI's commander definition (known command, known
 * options, the right number of arguments). No database, no network.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/main";

/** What the stub prints on stdout: add-step prints the new step's id, which `$(...)` captures. */
export const STUB_ID = "3f2b8c1e-9a4d-4c2e-8f00-5b6a7c8d9e0f";

/** The shell snippets of a prompt: fenced ```sh blocks (dedented) and inline `baton ...` code spans. */
export function shellSnippets(prompt: string): string[] {
  const blocks = [...prompt.matchAll(/^( *)```sh\n([\s\S]*?)^ *```$/gm)].map(([, indent, body]) =>
    body!
      .split("\n")
      .map((line) => (line.startsWith(indent!) ? line.slice(indent!.length) : line))
      .join("\n"),
  );
  const inline = [...prompt.matchAll(/`(baton [^`]+)`/g)].map(([, cmd]) => cmd!);
  return [...blocks, ...inline];
}

/** Runs a snippet with a stub `baton` and returns the argv of every call. */
export function runWithStub(snippet: string): string[][] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "baton-prompt-"));
  const log = path.join(dir, "argv");
  try {
    const stub = `baton() { for a in "$@"; do printf '%s\\0' "$a"; done >> "$BATON_ARGV_LOG"; printf '\\036' >> "$BATON_ARGV_LOG"; echo ${STUB_ID}; }\nset -e\n`;
    execFileSync("sh", ["-c", stub + snippet], { env: { PATH: process.env.PATH, BATON_ARGV_LOG: log }, stdio: ["ignore", "ignore", "pipe"] });
    const raw = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
    return raw
      .split("\x1e")
      .filter((r) => r.length > 0)
      .map((r) => r.split("\0").slice(0, -1));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Parses argv with the CLI's own definition, without running it; returns the command, its options and operands. */
export function parseWithCli(argv: string[]): { name: string; opts: Record<string, unknown>; operands: string[] } {
  let cmd: Command = buildProgram();
  const rest = [...argv];
  const names: string[] = [];
  for (;;) {
    const sub = cmd.commands.find((c) => c.name() === rest[0]);
    if (!sub) break;
    cmd = sub;
    names.push(rest.shift()!);
  }
  assert.ok(cmd.commands.length === 0 && names.length > 0, `"baton ${argv.join(" ")}" names no command of the CLI`);
  const { operands, unknown } = cmd.parseOptions(rest);
  assert.deepEqual(unknown, [], `"baton ${argv.join(" ")}" has options the CLI does not know`);
  const required = cmd.registeredArguments.filter((a) => a.required).length;
  assert.ok(
    operands.length >= required && operands.length <= cmd.registeredArguments.length,
    `"baton ${argv.join(" ")}" gives ${operands.length} arguments; ${names.join(" ")} takes ${cmd.registeredArguments.length}`,
  );
  return { name: names.join(" "), opts: cmd.opts(), operands };
}
