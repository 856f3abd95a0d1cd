/*
 * The daemon's state file: which API it belongs to, its daemon id and its current daemon token.
 * It lets a restarted daemon come back as itself without the owner's token, and it is the only place
 * the daemon keeps a token on disk. The directory is 0700 and the file 0600, written atomically
 * (a crash mid-write never leaves half a token), and it lives in the state dir, never in a workspace.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { sharedMode } from "../auth/private-file";

const StateFile = z.object({
  api_url: z.string().min(1),
  daemon_id: z.string().min(1),
  token: z.string().min(1),
  /** What the daemon was registered with: the server keeps them, so a start with others registers anew. */
  name: z.string().optional(),
  max_tasks: z.number().int().optional(),
});
export type DaemonState = z.infer<typeof StateFile>;

export const STATE_FILE = "daemon.json";

export class DaemonStateError extends Error {}

/** The state in `dir`, or null when there is none yet. A malformed or group/world-readable file is refused. */
export function readDaemonState(dir: string): DaemonState | null {
  const file = path.join(dir, STATE_FILE);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return null;
  }
  const mode = sharedMode(st);
  if (mode) throw new DaemonStateError(`${file} holds a daemon token but is readable by others (mode ${mode}); run chmod 600 ${file}.`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    throw new DaemonStateError(`${file} is not valid JSON; remove it to register the daemon again.`);
  }
  const parsed = StateFile.safeParse(raw);
  if (!parsed.success) throw new DaemonStateError(`${file} lacks ${String(parsed.error.issues[0]?.path[0] ?? "a field")}; remove it to register the daemon again.`);
  return parsed.data;
}

/** Writes the state atomically with mode 0600, creating the directory with mode 0700. */
export function writeDaemonState(dir: string, state: DaemonState): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
  fs.chmodSync(tmp, 0o600); // mode applies only when the file is new
  fs.renameSync(tmp, file);
}
