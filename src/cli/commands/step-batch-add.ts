import fs from "node:fs";
import type { Command } from "commander";
import { z } from "zod";
import { BatchAddStepsDocument } from "../../client/generated/graphql";
import { present, rows as nonNull } from "../../client/results";
import { addCommonOptions, apiClient, directiveIdFrom, output, UsageError, type CommonOptions } from "../context";

/* The contract's batch entry; the server checks again (keys, ids, cycles) and rejects the batch whole. */
const Entry = z
  .object({
    key: z.string().min(1).optional(),
    name: z.string(),
    description: z.string().nullish(),
    taskPlan: z.string().nullish(),
    dependsOn: z.array(z.string()).nullish(),
    orderIndex: z.number().int().nullish(),
    check: z.string().nullish(),
    // A duration ("30m", "1h30m") or seconds; the server checks the value and names the entry.
    timeout: z.union([z.string(), z.number()]).nullish(),
    stall: z.union([z.string(), z.number()]).nullish(),
    // The kind of agent the step needs (sql/000026): only daemons with that label take it.
    agent: z.string().nullish(),
  })
  .strict();
const Batch = z.array(Entry).min(1, "the batch is empty; give at least one step");

export function parseBatch(text: string): z.infer<typeof Batch> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`The steps are not valid JSON (${(err as Error).message}); give an array like [{"key": "a", "name": "First step"}].`);
  }
  const parsed = Batch.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `entry ${Number(issue.path[0]) + 1}${issue.path.length > 1 ? `, field "${issue.path.slice(1).join(".")}"` : ""}: ` : "";
    throw new UsageError(`Invalid batch: ${where}${issue.message}. Each entry is {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?, "timeout"?, "stall"?, "agent"?}.`);
  }
  return parsed.data;
}

/* Strict: Buffer#toString would turn bytes that are not UTF-8 into U+FFFD and store those in step names. */
function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`${what} is not valid UTF-8 (it has bytes such as 0xFF that encode no character); save it as UTF-8 and try again.`);
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError("Give the steps with --json JSON, --file PATH, or on stdin.");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return decodeUtf8(Buffer.concat(chunks), "The input on stdin");
}

export function register(directive: Command): void {
  addCommonOptions(
    directive
      .command("batch-add-steps")
      .description("Add steps atomically from a JSON array; prints the new ids in input order. dependsOn entries are step ids or keys of this batch; check is the step's own check.")
      .option("--json [steps]", "the steps as JSON (without a value: read stdin and print JSON)")
      .option("--file <path>", "read the steps from a file")
      .addHelpText(
        "after",
        `\nEach entry is {"key"?, "name", "description"?, "taskPlan"?, "dependsOn"?: [...], "orderIndex"?, "check"?, "timeout"?, "stall"?}. "check" is a\nshell command run in the step's worktree after its agent exits 0; the step completes only if it exits 0 too.\nIt replaces the directive's check (directive create/update --check) for that step. "timeout" and "stall"\n(a duration such as "30m" or "1h30m", or seconds) limit each attempt of the step, overriding the directive's.\n\nExamples:\n  baton directive batch-add-steps --json '[{"key":"db","name":"Schema","check":"npm test -- db"},{"name":"API","dependsOn":["db"]}]'\n  baton directive batch-add-steps --file plan.json\n  cat plan.json | baton directive batch-add-steps`,
      ),
    { directive: true, json: false },
  ).action(async (opts: CommonOptions & { file?: string }) => {
    const inline = typeof opts.json === "string" ? opts.json : undefined;
    if (inline !== undefined && opts.file) throw new UsageError("Give the steps either with --json or with --file, not both.");
    let text: string;
    if (inline !== undefined) text = inline;
    else if (opts.file) {
      if (!fs.existsSync(opts.file)) throw new UsageError(`The file ${opts.file} does not exist.`);
      text = decodeUtf8(fs.readFileSync(opts.file), `The file ${opts.file}`);
    } else text = await readStdin();
    const steps = parseBatch(text);
    const data = await apiClient(opts).request(BatchAddStepsDocument, { d: directiveIdFrom(opts), steps });
    const rows = nonNull(present(data.batchAddSteps?.result, "the new steps"));
    output(opts, rows, rows.map((r) => r.rowId).join("\n"));
  });
}
