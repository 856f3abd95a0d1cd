/** Branch names for execution tasks: baton/<directive-short>/<step-short>-<slug>. Pure. */
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

export function taskBranch(directiveId: string, stepId: string, stepName: string): string {
  const short = (id: string) => id.replace(/-/g, "").slice(0, 8);
  return `baton/${short(directiveId)}/${short(stepId)}-${slugify(stepName)}`;
}
