/*
 * A deterministic text description of Baton's schemas, from the catalogs, committed as
 * test/schema.sql and checked by a test, so every schema change shows in review (graphile-worker
 * commits a pg_dump for the same reason; pg_dump must match the server's major version, which the
 * embedded PostgreSQL does not ship, so this reads the catalogs instead).
 */
import type { ClientBase } from "pg";

const SCHEMAS = ["baton", "baton_private"];

export async function describeSchema(c: ClientBase): Promise<string> {
  const out: string[] = ["-- Baton schema snapshot: regenerate with `npm run schema:dump`; test/schema.test.ts compares it.", ""];
  const q = async (sql: string) => (await c.query(sql, [SCHEMAS])).rows as Record<string, string>[];

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
    for (const con of (await c.query(`select conname, pg_get_constraintdef(oid) as def from pg_constraint where conrelid = $1 order by conname`, [t.oid])).rows) {
      out.push(`  constraint ${con.conname} ${con.def}`);
    }
    for (const idx of (await c.query(`select indexrelid::regclass::text as name, pg_get_indexdef(indexrelid) as def from pg_index where indrelid = $1 order by 1`, [t.oid])).rows) {
      out.push(`  ${idx.def}`);
    }
    for (const tg of (await c.query(`select pg_get_triggerdef(oid) as def from pg_trigger where tgrelid = $1 and not tgisinternal order by tgname`, [t.oid])).rows) {
      out.push(`  ${tg.def}`);
    }
    for (const p of (await c.query(`select polname, pg_get_expr(polqual, polrelid) as qual, polcmd, array_to_string(array(select rolname from pg_roles where oid = any(polroles) order by 1), ',') as roles from pg_policy where polrelid = $1 order by polname`, [t.oid])).rows) {
      out.push(`  policy ${p.polname} for ${p.polcmd} to ${p.roles || "public"} using (${p.qual})`);
    }
    if (t.relkind === "v") out.push(`  as ${(await c.query(`select pg_get_viewdef($1::oid, true) as def`, [t.oid])).rows[0].def.replace(/\s+/g, " ").trim()}`);
    const grants = await c.query(`select grantee, string_agg(privilege_type, ',' order by privilege_type) as privs from information_schema.role_table_grants
      where table_schema || '.' || table_name = $1 and grantee like 'baton%' group by grantee order by grantee`, [t.name]);
    for (const g of grants.rows) out.push(`  grant ${g.privs} to ${g.grantee}`);
    out.push("");
  }

  for (const ty of await q(`select n.nspname || '.' || t.typname as name, obj_description(t.oid, 'pg_type') as comment,
      (select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum) from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0) as cols
      from pg_type t join pg_namespace n on n.oid = t.typnamespace join pg_class c on c.oid = t.typrelid
     where n.nspname = any($1) and t.typtype = 'c' and c.relkind = 'c' order by 1`)) {
    out.push(`type ${ty.name} (${ty.cols})${ty.comment ? ` -- ${ty.comment.replace(/\n/g, " ")}` : ""}`, "");
  }

  for (const f of await q(`select p.oid::regprocedure::text as sig, pg_get_functiondef(p.oid) as def, obj_description(p.oid, 'pg_proc') as comment,
      array_to_string(array(select grantee::regrole::text from aclexplode(p.proacl) where grantee <> 0 and grantee <> p.proowner order by 1), ',') as grantees
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = any($1) order by 1`)) {
    out.push(`-- ${f.sig}${f.grantees ? `  (execute: ${f.grantees})` : ""}`);
    if (f.comment) out.push(`-- comment: ${f.comment.replace(/\n/g, " ")}`);
    out.push(f.def.trim(), "");
  }
  return out.join("\n") + "\n";
}
