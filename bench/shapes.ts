/*
 * The DAGs the scenarios build, as batch_add_steps input (each step's name is its key, so the rows
 * batch_add_steps returns map back to keys), and createDirective, which adds one for an owner and
 * returns its id and the dependencies of every step by step id (for computing hops afterwards).
 */
import type { Pool } from "pg";

export type StepSpec = { key: string; name: string; dependsOn?: string[] };

export function chainSteps(n: number): StepSpec[] {
  return Array.from({ length: n }, (_, i) => ({ key: `s${i}`, name: `s${i}`, ...(i ? { dependsOn: [`s${i - 1}`] } : {}) }));
}

/** A root, then diamonds (two parallel steps and their join) until n steps: 25 = 1 + 8 x 3. */
export function diamondSteps(n: number): StepSpec[] {
  const steps: StepSpec[] = [{ key: "s0", name: "s0" }];
  let tail = "s0";
  while (steps.length < n) {
    const i = steps.length;
    const a = `s${i}`;
    steps.push({ key: a, name: a, dependsOn: [tail] });
    if (steps.length === n) break;
    const b = `s${i + 1}`;
    steps.push({ key: b, name: b, dependsOn: [tail] });
    if (steps.length === n) break;
    const j = `s${i + 2}`;
    steps.push({ key: j, name: j, dependsOn: [a, b] });
    tail = j;
  }
  return steps;
}

/** root -> width parallel steps -> join. */
export function fanoutSteps(width: number): StepSpec[] {
  const children = Array.from({ length: width }, (_, i) => ({ key: `c${i}`, name: `c${i}`, dependsOn: ["root"] }));
  return [{ key: "root", name: "root" }, ...children, { key: "join", name: "join", dependsOn: children.map((c) => c.key) }];
}

export type BuiltDirective = { id: string; stepIds: Map<string, string>; deps: Map<string, string[]> };

/** Creates a draft directive with these steps (start it with baton.start_directive). */
export async function createDirective(pool: Pool, owner: string, title: string, steps: StepSpec[]): Promise<BuiltDirective> {
  const id = (await pool.query<{ id: string }>("select id from baton.create_directive($1, 'bench', owner_id => $2)", [title, owner])).rows[0]!.id;
  const rows = await pool.query<{ id: string; name: string }>("select id, name from baton.batch_add_steps($1, $2)", [id, JSON.stringify(steps)]);
  const stepIds = new Map(rows.rows.map((r) => [r.name, r.id]));
  const deps = new Map<string, string[]>();
  for (const s of steps) deps.set(stepIds.get(s.key)!, (s.dependsOn ?? []).map((k) => stepIds.get(k)!));
  return { id, stepIds, deps };
}

export async function createOwner(pool: Pool, name = "bench"): Promise<string> {
  return (await pool.query<{ id: string }>("select id from baton.create_owner($1)", [name])).rows[0]!.id;
}
