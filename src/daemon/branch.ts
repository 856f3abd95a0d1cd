/*
 * Branch names for execution attempts: baton/<directive-short>/<step-short>-<slug>-<task-short>. Pure.
 *
 * One branch per attempt (task), not per step: an attempt pushes only its own branch, without
 * --force, so a late attempt (a daemon that lost its lease) can never overwrite the work of the retry
 * that replaced it. The server records the accepted attempt's branch and commit on its task, and
 * dependents start from that commit. The task id ends the name, so no branch name is a prefix
 * directory of another (git cannot hold both `a/b` and `a/b/c`).
 */
export function slugify(name: string, max = 40): string {
  const slug = name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, max)
    .replace(/-+$/g, "");
  return slug || "step";
}

const short = (id: string) => id.replace(/-/g, "").slice(0, 8);

export function taskBranch(directiveId: string, stepId: string, stepName: string, taskId: string): string {
  return `baton/${short(directiveId)}/${short(stepId)}-${slugify(stepName)}-${short(taskId)}`;
}
