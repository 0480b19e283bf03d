/**
 * A stable, sorted text of the schema, so that a review sees what a migration changes and a round
 * trip (all up, all down, all up) can be compared byte for byte. It holds no timestamps, no object
 * ids and no owners: the same schema always gives the same text.
 */
import type { Queryable, Storage } from '../storage/types.js'

export interface DumpOptions {
  /**
   * PostgreSQL: dump only these schemas (and the extensions installed in them). Default: every
   * schema but PostgreSQL's own (`pg_*`, `information_schema`).
   */
  schemas?: readonly string[]
}

export async function dumpSchema(storage: Storage, options: DumpOptions = {}): Promise<string> {
  const parts =
    storage.dialect === 'postgres'
      ? await storage.transaction((tx) => dumpPostgres(tx, options.schemas))
      : await dumpSqlite(storage)
  const header = `-- mt5-engine schema (${storage.dialect}), written by \`mt5-engine migrate dump\`: do not edit.\n`
  return header + parts.map((p) => `\n${p.trimEnd()};\n`).join('')
}

async function dumpSqlite(storage: Storage): Promise<string[]> {
  // sqlite_schema holds triggers and views with their text as written; sqlite_% are SQLite's own.
  const rows = await storage.query<{ sql: string }>(
    `select sql from sqlite_schema
      where sql is not null and name not like 'sqlite_%'
      order by case type when 'table' then 1 when 'index' then 2 when 'view' then 3 else 4 end, name`,
  )
  return rows.map((r) => r.sql)
}

interface Part {
  name: string
  def: string
}

/**
 * One query per kind of object, each returning `name` (the sort key) and `def`. Sorting happens
 * here, by code point, because `order by` on the server follows the database's collation, which
 * differs between servers.
 */
async function dumpPostgres(tx: Queryable, schemas: readonly string[] | undefined): Promise<string[]> {
  // With an empty search_path every pg_get_*def and regclass output names its schema, so the text
  // does not depend on the connection's search_path, and objects of several schemas cannot blur.
  await tx.query(`select set_config('search_path', '', true)`)
  const params = [schemas === undefined ? null : [...schemas]]
  const out: string[] = []
  for (const text of sections) {
    const rows = await tx.query<Part>(text.replace(/\$SCHEMAS\b/g, () => SCHEMAS), params)
    rows.sort((a, b) => compare(a.name, b.name) || compare(a.def, b.def))
    out.push(...rows.map((r) => r.def))
  }
  return out
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The namespaces dumped: every non-system schema, or those asked for. */
const SCHEMAS = `(select oid from pg_catalog.pg_namespace
   where nspname !~ '^pg_' and nspname <> 'information_schema'
     and ($1::text[] is null or nspname = any($1::text[])))`

/**
 * Written by a migration, not made by another object: an extension's members come back with its
 * CREATE EXTENSION, and the constructor functions of a range type with the type (deptype 'i').
 */
function own(catalog: string, oid: string): string {
  return `not exists (select 1 from pg_catalog.pg_depend d
    where d.classid = 'pg_catalog.${catalog}'::pg_catalog.regclass and d.objid = ${oid} and d.objsubid = 0 and d.deptype in ('e', 'i'))`
}

const schemasSection = `
  select n.nspname as name, format('CREATE SCHEMA %I', n.nspname) as def
    from pg_catalog.pg_namespace n where n.oid in $SCHEMAS`

const extensionsSection = `
  select e.extname as name, format('CREATE EXTENSION %I WITH SCHEMA %I VERSION %L', e.extname, n.nspname, e.extversion) as def
    from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
   where e.extnamespace in $SCHEMAS`

const typesSection = `
  select format('%I.%I', n.nspname, t.typname) as name,
         case t.typtype
           when 'e' then format('CREATE TYPE %I.%I AS ENUM (%s)', n.nspname, t.typname,
             (select string_agg(quote_literal(e.enumlabel), ', ' order by e.enumsortorder)
                from pg_catalog.pg_enum e where e.enumtypid = t.oid))
           when 'd' then format('CREATE DOMAIN %I.%I AS %s', n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod))
             || case when t.typcollation <> 0 and t.typcollation <> b.typcollation
                     then ' COLLATE ' || t.typcollation::pg_catalog.regcollation::text else '' end
             || case when t.typdefault is not null then ' DEFAULT ' || t.typdefault else '' end
             || case when t.typnotnull then ' NOT NULL' else '' end
             || coalesce((select string_agg(format(E'\\n  CONSTRAINT %I %s', k.conname, pg_get_constraintdef(k.oid, true)),
                                            '' order by k.conname collate "C")
                            from pg_catalog.pg_constraint k where k.contypid = t.oid), '')
           when 'c' then format(E'CREATE TYPE %I.%I AS (\\n  %s\\n)', n.nspname, t.typname,
             (select string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), E',\\n  ' order by a.attnum)
                from pg_catalog.pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped))
           when 'r' then format('CREATE TYPE %I.%I AS RANGE (SUBTYPE = %s)', n.nspname, t.typname,
             (select format_type(r.rngsubtype, null) from pg_catalog.pg_range r where r.rngtypid = t.oid))
         end as def
    from pg_catalog.pg_type t
    join pg_catalog.pg_namespace n on n.oid = t.typnamespace
    left join pg_catalog.pg_type b on b.oid = t.typbasetype
   where t.typnamespace in $SCHEMAS and ${own('pg_type', 't.oid')}
     and (t.typtype in ('e', 'd', 'r')
          or (t.typtype = 'c' and (select c.relkind from pg_catalog.pg_class c where c.oid = t.typrelid) = 'c'))`

// Identity sequences belong to their column (an internal dependency) and show there.
const sequencesSection = `
  select format('%I.%I', n.nspname, c.relname) as name,
         format('CREATE %sSEQUENCE %I.%I AS %s INCREMENT %s MINVALUE %s MAXVALUE %s START %s CACHE %s%s',
                case when c.relpersistence = 'u' then 'UNLOGGED ' else '' end, n.nspname, c.relname,
                format_type(s.seqtypid, null), s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache,
                case when s.seqcycle then ' CYCLE' else '' end)
           || coalesce((select format(' OWNED BY %s.%I', d.refobjid::pg_catalog.regclass, a.attname)
                          from pg_catalog.pg_depend d
                          join pg_catalog.pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
                         where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid
                           and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.deptype = 'a'), '') as def
    from pg_catalog.pg_sequence s
    join pg_catalog.pg_class c on c.oid = s.seqrelid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.relnamespace in $SCHEMAS and ${own('pg_class', 'c.oid')}`

const tablesSection = `
  select format('%I.%I', n.nspname, c.relname) as name,
         format(E'CREATE %sTABLE %I.%I (\\n  %s\\n)%s%s%s',
                case when c.relpersistence = 'u' then 'UNLOGGED ' else '' end, n.nspname, c.relname,
                concat_ws(E',\\n  ',
                  (select string_agg(
                            format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                            || case when a.attcollation <> 0 and a.attcollation <> ty.typcollation
                                    then ' COLLATE ' || a.attcollation::pg_catalog.regcollation::text else '' end
                            || case when a.attidentity = 'a' then ' GENERATED ALWAYS AS IDENTITY'
                                    when a.attidentity = 'd' then ' GENERATED BY DEFAULT AS IDENTITY' else '' end
                            || case when a.attgenerated = 's' then ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED'
                                    when d.adbin is not null then ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) else '' end
                            || case when a.attnotnull then ' NOT NULL' else '' end,
                            E',\\n  ' order by a.attnum)
                     from pg_catalog.pg_attribute a
                     join pg_catalog.pg_type ty on ty.oid = a.atttypid
                     left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
                    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
                  (select string_agg(format('CONSTRAINT %I %s', k.conname, pg_get_constraintdef(k.oid, true)),
                                     E',\\n  ' order by k.contype desc, k.conname collate "C")
                     from pg_catalog.pg_constraint k where k.conrelid = c.oid)),
                (select ' INHERITS (' || string_agg(i.inhparent::pg_catalog.regclass::text, ', ' order by i.inhseqno) || ')'
                   from pg_catalog.pg_inherits i where i.inhrelid = c.oid and not c.relispartition),
                case when c.relkind = 'p' then ' PARTITION BY ' || pg_get_partkeydef(c.oid) else '' end,
                case when c.reloptions is not null then ' WITH (' || array_to_string(c.reloptions, ', ') || ')' else '' end)
           || case when c.relrowsecurity then format(E';\\nALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', n.nspname, c.relname) else '' end
           || case when c.relforcerowsecurity then format(E';\\nALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', n.nspname, c.relname) else '' end
           || coalesce((select format(E';\\nALTER TABLE %s ATTACH PARTITION %I.%I %s', i.inhparent::pg_catalog.regclass,
                                      n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid))
                          from pg_catalog.pg_inherits i where i.inhrelid = c.oid and c.relispartition), '') as def
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.relnamespace in $SCHEMAS and c.relkind in ('r', 'p') and ${own('pg_class', 'c.oid')}`

// Indexes that back a constraint are written by the constraint.
const indexesSection = `
  select format('%I.%I', n.nspname, i.relname) as name, pg_get_indexdef(i.oid) as def
    from pg_catalog.pg_index x
    join pg_catalog.pg_class i on i.oid = x.indexrelid
    join pg_catalog.pg_namespace n on n.oid = i.relnamespace
   where i.relnamespace in $SCHEMAS and ${own('pg_class', 'x.indrelid')}
     and not exists (select 1 from pg_catalog.pg_constraint k where k.conindid = i.oid and k.conrelid = x.indrelid)`

const viewsSection = `
  select format('%I.%I', n.nspname, c.relname) as name,
         format('CREATE %sVIEW %I.%I%s AS%s', case when c.relkind = 'm' then 'MATERIALIZED ' else '' end, n.nspname, c.relname,
                case when c.reloptions is not null then ' WITH (' || array_to_string(c.reloptions, ', ') || ')' else '' end,
                rtrim(pg_get_viewdef(c.oid, true), ';')) as def
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.relnamespace in $SCHEMAS and c.relkind in ('v', 'm') and ${own('pg_class', 'c.oid')}`

const functionsSection = `
  select p.oid::pg_catalog.regprocedure::text as name,
         case when p.prokind = 'a'
              then format('CREATE AGGREGATE %s (SFUNC = %s, STYPE = %s%s%s)', p.oid::pg_catalog.regprocedure,
                          g.aggtransfn::pg_catalog.regproc, format_type(g.aggtranstype, null),
                          case when g.aggfinalfn <> 0 then ', FINALFUNC = ' || g.aggfinalfn::pg_catalog.regproc::text else '' end,
                          case when g.agginitval is not null then ', INITCOND = ' || quote_literal(g.agginitval) else '' end)
              else rtrim(pg_get_functiondef(p.oid), E'\\n') end as def
    from pg_catalog.pg_proc p left join pg_catalog.pg_aggregate g on g.aggfnoid = p.oid
   where p.pronamespace in $SCHEMAS and ${own('pg_proc', 'p.oid')}`

const triggersSection = `
  select c.oid::pg_catalog.regclass::text || '.' || t.tgname as name,
         pg_get_triggerdef(t.oid, true)
           || case t.tgenabled when 'D' then format(E';\\nALTER TABLE %s DISABLE TRIGGER %I', c.oid::pg_catalog.regclass, t.tgname)
                               when 'R' then format(E';\\nALTER TABLE %s ENABLE REPLICA TRIGGER %I', c.oid::pg_catalog.regclass, t.tgname)
                               when 'A' then format(E';\\nALTER TABLE %s ENABLE ALWAYS TRIGGER %I', c.oid::pg_catalog.regclass, t.tgname)
                               else '' end as def
    from pg_catalog.pg_trigger t join pg_catalog.pg_class c on c.oid = t.tgrelid
   where c.relnamespace in $SCHEMAS and not t.tgisinternal and ${own('pg_class', 'c.oid')}`

const policiesSection = `
  select format('%I.%I.%I', p.schemaname, p.tablename, p.policyname) as name,
         format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s', p.policyname, p.schemaname, p.tablename,
                p.permissive, p.cmd, array_to_string(p.roles, ', '))
           || coalesce(' USING (' || p.qual || ')', '') || coalesce(' WITH CHECK (' || p.with_check || ')', '') as def
    from pg_catalog.pg_policies p
   where p.schemaname::text in (select nspname from pg_catalog.pg_namespace where oid in $SCHEMAS)`

/**
 * Grants as GRANT statements, one per object, grantee and grant option. A null ACL means the
 * defaults and shows nothing; once anything is granted the ACL lists the owner's rights too, and
 * so does the dump. Grantors are left out: they name whoever happened to run the migration.
 */
const grantsSection = `
  with objects(target, col, acl) as (
    select format('SCHEMA %I', n.nspname), null::text, n.nspacl
      from pg_catalog.pg_namespace n where n.oid in $SCHEMAS
    union all
    select format('%s %s', case c.relkind when 'S' then 'SEQUENCE' else 'TABLE' end, c.oid::pg_catalog.regclass), null, c.relacl
      from pg_catalog.pg_class c
     where c.relnamespace in $SCHEMAS and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and ${own('pg_class', 'c.oid')}
    union all
    select format('TABLE %s', c.oid::pg_catalog.regclass), quote_ident(a.attname), a.attacl
      from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
     where c.relnamespace in $SCHEMAS and a.attacl is not null and a.attnum > 0 and not a.attisdropped
       and ${own('pg_class', 'c.oid')}
    union all
    select format('%s %s', case p.prokind when 'p' then 'PROCEDURE' else 'FUNCTION' end, p.oid::pg_catalog.regprocedure), null, p.proacl
      from pg_catalog.pg_proc p where p.pronamespace in $SCHEMAS and ${own('pg_proc', 'p.oid')}
    union all
    select format('%s %s', case t.typtype when 'd' then 'DOMAIN' else 'TYPE' end, t.oid::pg_catalog.regtype), null, t.typacl
      from pg_catalog.pg_type t
     where t.typnamespace in $SCHEMAS and t.typacl is not null and ${own('pg_type', 't.oid')}
  ), granted as (
    select o.target, o.col,
           case when a.grantee = 0 then 'PUBLIC' else quote_ident(pg_get_userbyid(a.grantee)) end as grantee,
           a.is_grantable,
           string_agg(a.privilege_type || coalesce(' (' || o.col || ')', ''), ', ' order by a.privilege_type collate "C") as privileges
      from objects o, aclexplode(o.acl) a
     group by o.target, o.col, a.grantee, a.is_grantable
  )
  select target || coalesce('.' || col, '') as name,
         format('GRANT %s ON %s TO %s%s', privileges, target, grantee, case when is_grantable then ' WITH GRANT OPTION' else '' end) as def
    from granted`

const defaultPrivilegesSection = `
  select format('%s %s %s', pg_get_userbyid(d.defaclrole), coalesce(n.nspname, ''), d.defaclobjtype) as name,
         format('ALTER DEFAULT PRIVILEGES FOR ROLE %I%s GRANT %s ON %s TO %s%s', pg_get_userbyid(d.defaclrole),
                coalesce(format(' IN SCHEMA %I', n.nspname), ''),
                string_agg(a.privilege_type, ', ' order by a.privilege_type collate "C"),
                case d.defaclobjtype when 'r' then 'TABLES' when 'S' then 'SEQUENCES' when 'f' then 'FUNCTIONS'
                                     when 'T' then 'TYPES' when 'n' then 'SCHEMAS' end,
                case when a.grantee = 0 then 'PUBLIC' else quote_ident(pg_get_userbyid(a.grantee)) end,
                case when a.is_grantable then ' WITH GRANT OPTION' else '' end) as def
    from pg_catalog.pg_default_acl d
    left join pg_catalog.pg_namespace n on n.oid = d.defaclnamespace
    cross join aclexplode(d.defaclacl) a
   where (d.defaclnamespace = 0 and $1::text[] is null) or d.defaclnamespace in $SCHEMAS
   group by d.defaclrole, n.nspname, d.defaclobjtype, a.grantee, a.is_grantable`

// The order a reader (and, mostly, a restore) needs: containers, then types, then what uses them.
const sections = [
  schemasSection,
  extensionsSection,
  typesSection,
  sequencesSection,
  tablesSection,
  indexesSection,
  viewsSection,
  functionsSection,
  triggersSection,
  policiesSection,
  grantsSection,
  defaultPrivilegesSection,
]
