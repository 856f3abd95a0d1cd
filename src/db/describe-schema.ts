/*
 * A deterministic text description of Baton's schemas, from the catalogs, committed as
 * test/schema.sql and checked by a test, so every schema change shows in review (graphile-worker
 * commits a pg_dump for the same reason; pg_dump must match the server's major version, which the
 * embedded PostgreSQL does not ship, so this reads the catalogs instead).
 *
 * The text is the same on every supported PostgreSQL (15 and up) and for any login name:
 * - the login that ran the migrations (the owner of schema baton) prints as MIGRATOR, because
 *   migrations grant to and make policies for current_user;
 * - an object owner's own privileges are left out (they follow from ownership);
 * - NOT NULL constraints, which PostgreSQL 18 also records in pg_constraint, print only as the
 *   column's `not null`; the MAINTAIN privilege (PostgreSQL 17+) is left out.
 */
import type { ClientBase } from "pg";

const SCHEMAS = ["baton", "baton_private"];
export const MIGRATOR = "{migrator}";

/** Role name, or MIGRATOR for the login that ran the migrations, or `public` for grantee 0. */
type RoleNamer = (name: string | null) => string;

/** Grantee and privileges of the object $1 in `catalog`, from its ACL; the owner's own rights left out. */
const aclGrants = (catalog: string, acl: string, owner: string) => `select a.grantee::regrole::text as grantee, string_agg(a.privilege_type, ',' order by a.privilege_type) as privs
  from ${catalog} o, aclexplode(o.${acl}) a where o.oid = $1 and a.grantee <> o.${owner} and a.privilege_type <> 'MAINTAIN' group by a.grantee`;

export async function describeSchema(c: ClientBase): Promise<string> {
  const out: string[] = [
    "-- Baton schema snapshot: regenerate with `npm run schema:dump`; test/schema.test.ts compares it.",
    `-- ${MIGRATOR} is the login that ran the migrations; the text is the same on PostgreSQL 15 to 18.`,
    "",
  ];
  const q = async (sql: string) => (await c.query(sql, [SCHEMAS])).rows as Record<string, string>[];
  const migrator = (await c.query<{ owner: string | null }>("select nspowner::regrole::text as owner from pg_namespace where nspname = $1", [SCHEMAS[0]])).rows[0]?.owner;
  const role: RoleNamer = (name) => (name === null || name === "-" ? "public" : name === migrator ? MIGRATOR : name);
  const grantLines = (rows: { grantee: string | null; privs: string }[], indent: string) =>
    rows.map((g) => ({ who: role(g.grantee), privs: g.privs })).sort((a, b) => (a.who < b.who ? -1 : a.who > b.who ? 1 : 0)).map((g) => `${indent}grant ${g.privs} to ${g.who}`);

  for (const n of await q(`select n.nspname as name, obj_description(n.oid, 'pg_namespace') as comment, n.oid::int as oid from pg_namespace n where n.nspname = any($1) order by 1`)) {
    out.push(`schema ${n.name}`);
    if (n.comment) out.push(`  comment: ${n.comment.replace(/\n/g, " ")}`);
    out.push(...grantLines((await c.query(aclGrants("pg_namespace", "nspacl", "nspowner"), [n.oid])).rows, "  "));
    out.push("");
  }
  for (const d of (await c.query(`select d.defaclrole::regrole::text as role, coalesce(n.nspname, '(all schemas)') as schema, d.defaclobjtype as kind, d.oid::int as oid
      from pg_default_acl d left join pg_namespace n on n.oid = d.defaclnamespace
     where d.defaclrole = (select nspowner from pg_namespace where nspname = $1) order by 2, 3`, [SCHEMAS[0]])).rows) {
    const kind = ({ r: "tables", S: "sequences", f: "functions", T: "types", n: "schemas", L: "large objects" } as Record<string, string>)[d.kind] ?? d.kind;
    const grants = (await c.query(aclGrants("pg_default_acl", "defaclacl", "defaclrole"), [d.oid])).rows;
    out.push(`default privileges of ${role(d.role)} on ${kind} in ${d.schema}`, ...(grants.length ? grantLines(grants, "  ") : ["  none beyond the owner"]), "");
  }

  for (const t of await q(`select n.nspname || '.' || c.relname as name, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
      obj_description(c.oid, 'pg_class') as comment, c.oid::int as oid
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = any($1) and c.relkind in ('r', 'v') order by 1`)) {
    out.push(`${t.relkind === "v" ? "view" : "table"} ${t.name}${t.relrowsecurity ? " (rls" + (t.relforcerowsecurity ? ", forced)" : ")") : ""}`);
    if (t.comment) out.push(`  comment: ${t.comment.replace(/\n/g, " ")}`);
    const cols = await c.query(
      `select a.attname, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull, pg_get_expr(d.adbin, d.adrelid) as def,
              col_description(a.attrelid, a.attnum) as comment
         from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped order by a.attnum`,
      [t.oid],
    );
    for (const col of cols.rows) {
      out.push(`  ${col.attname} ${col.type}${col.attnotnull ? " not null" : ""}${col.def ? ` default ${col.def}` : ""}${col.comment ? ` -- ${String(col.comment).replace(/\n/g, " ")}` : ""}`);
    }
    for (const con of (await c.query(`select conname, pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1 and contype <> 'n' order by conname`, [t.oid])).rows) {
      out.push(`  constraint ${con.conname} ${con.def}`);
    }
    for (const idx of (await c.query(`select indexrelid::regclass::text as name, pg_get_indexdef(indexrelid) as def from pg_index where indrelid = $1 order by 1`, [t.oid])).rows) {
      out.push(`  ${idx.def}`);
    }
    for (const tg of (await c.query(`select pg_get_triggerdef(oid) as def from pg_trigger where tgrelid = $1 and not tgisinternal order by tgname`, [t.oid])).rows) {
      out.push(`  ${tg.def}`);
    }
    for (const p of (await c.query(`select polname, pg_get_expr(polqual, polrelid) as qual, polcmd, array(select case when r = 0 then null else r::regrole::text end from unnest(polroles) r) as roles from pg_policy where polrelid = $1 order by polname`, [t.oid])).rows) {
      out.push(`  policy ${p.polname} for ${p.polcmd} to ${(p.roles as (string | null)[]).map(role).sort().join(",")} using (${p.qual})`);
    }
    if (t.relkind === "v") out.push(`  as ${(await c.query(`select pg_get_viewdef($1::oid, true) as def`, [t.oid])).rows[0].def.replace(/\s+/g, " ").trim()}`);
    out.push(...grantLines((await c.query(aclGrants("pg_class", "relacl", "relowner"), [t.oid])).rows, "  "));
    out.push("");
  }

  for (const ty of await q(`select n.nspname || '.' || t.typname as name, obj_description(t.oid, 'pg_type') as comment,
      (select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum) from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0) as cols
      from pg_type t join pg_namespace n on n.oid = t.typnamespace join pg_class c on c.oid = t.typrelid
     where n.nspname = any($1) and t.typtype = 'c' and c.relkind = 'c' order by 1`)) {
    out.push(`type ${ty.name} (${ty.cols})${ty.comment ? ` -- ${ty.comment.replace(/\n/g, " ")}` : ""}`, "");
  }

  for (const f of await q(`select p.oid::regprocedure::text as sig, pg_get_functiondef(p.oid) as def, obj_description(p.oid, 'pg_proc') as comment,
      array(select grantee::regrole::text from aclexplode(p.proacl) where grantee <> p.proowner) as grantees
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = any($1) order by 1`)) {
    const grantees = (f.grantees as unknown as (string | null)[]).map(role).sort().join(",");
    out.push(`-- ${f.sig}${grantees ? `  (execute: ${grantees})` : ""}`);
    if (f.comment) out.push(`-- comment: ${f.comment.replace(/\n/g, " ")}`);
    out.push(f.def.trim(), "");
  }
  return out.join("\n") + "\n";
}
