/*
 * Where the daemon keeps workspaces and its state. The work dir must not be inside the server's data
 * dir (BATON_DATA_DIR, default ./.baton): that holds the JWT secret, the local owner's credentials and
 * the embedded database's superuser password, and an agent would find them a few `../` up from its
 * worktree. The default, ./.baton-work, sits beside the data dir where the README starts the daemon.
 * The state dir (the daemon's token) defaults to <work-dir>/state: one per work dir, so two daemons
 * never share an identity, and outside every worktree and prompt directory.
 */
import fs from "node:fs";
import path from "node:path";
import { UsageError } from "../cli/context";

export const DEFAULT_WORK_DIR = "./.baton-work";

/** realpath of the longest existing prefix, then the rest: `a/b/../c` and symlinked parents compare as the kernel sees them. */
export function realpathLoose(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest);
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return abs;
      rest.unshift(path.basename(cur));
      cur = parent;
    }
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** The work dir, absolute; refused when it is the data dir or inside it. */
export function checkWorkDir(workDir: string, env: NodeJS.ProcessEnv = process.env): string {
  const dataDir = realpathLoose(env.BATON_DATA_DIR || "./.baton");
  const work = realpathLoose(workDir);
  if (isInside(work, dataDir)) {
    throw new UsageError(
      `--work-dir ${workDir} is inside the server's data dir ${dataDir} (BATON_DATA_DIR), which holds the JWT secret and the owner's credentials that agents must not reach; choose a directory outside it, such as ${DEFAULT_WORK_DIR}.`,
    );
  }
  return path.resolve(workDir);
}

/** The state dir, absolute: the given one, else <work-dir>/state. It must not be inside a workspace or prompt directory. */
export function stateDirFor(workDir: string, given: string | undefined): string {
  const dir = path.resolve(given ?? path.join(workDir, "state"));
  for (const sub of ["worktrees", "prompts", "repos", "bin"]) {
    if (isInside(realpathLoose(dir), realpathLoose(path.join(workDir, sub)))) {
      throw new UsageError(`--state-dir ${dir} is inside ${path.join(workDir, sub)}, where agents work; choose a directory outside it.`);
    }
  }
  return dir;
}

/** `baton` on the agents' PATH (`<work-dir>/bin`, which the task runner puts first) runs this installation's CLI. */
export function writeBatonShim(workDir: string, batonBin: string): void {
  const bin = path.join(workDir, "bin");
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, "baton"), `#!/bin/sh\nexec "${process.execPath}" "${batonBin}" "$@"\n`, { mode: 0o755 });
}
