/**
 * The database side of external changes: a trigger function and, per observed table, statement
 * triggers that `pg_notify` the rows a statement changed (keys, and the rows before), in as few
 * payloads under 8000 bytes as fit, so that writes made outside the application reach observers
 * too. They never fail the write. Captured writes start with a marker (`captureMarker`) that the
 * trigger of their table skips at depth 1: the application publishes those itself.
 */
import { sql, type SQL } from 'drizzle-orm'
import { PgDialect, type PgTable } from 'drizzle-orm/pg-core'
import type { Database, ExternalChangesOptions } from '../../types/index.js'
import { errors } from '../errors.js'
import { tableInfo, type TableInfo } from './table-info.js'

/** The default NOTIFY channel. */
export const DEFAULT_CHANNEL = 'dcrf_changes'
/** The trigger function's name, created in the first schema of the search path unless qualified. */
const FUNCTION_NAME = 'dcrf_notify_changes'
/** Payload bytes we stay under (PostgreSQL refuses 8000 and more). */
const PAYLOAD_LIMIT = 7999
/** Values kept in a previous row that is too large to send whole. */
const SMALL_VALUE = 256

/** The comment a captured statement starts with: the trigger of `identity`'s table skips it. */
export function captureMarker (identity: string): string {
  return `/*dcrf:${identity}*/ `
}

const dialect = new PgDialect()

function render (chunk: SQL): string {
  return dialect.sqlToQuery(chunk).sql
}

function literal (value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}

/** The trigger function (plpgsql). Its arguments: the channel, the table's identity, its key columns. */
function functionSql (): string {
  return `create or replace function ${FUNCTION_NAME}() returns trigger language plpgsql as $dcrf$
declare
  channel text := TG_ARGV[0];
  tag text := TG_ARGV[1];
  key_columns text[] := TG_ARGV[2:];
  marker text := '/*dcrf:' || TG_ARGV[1] || '*/';
  head text;
  chunk text := '';
  item text;
  lost integer := 0;
  rows jsonb[];
  e jsonb;
  r_o jsonb;
begin
  -- the application captured this statement and publishes its rows itself
  if pg_trigger_depth() = 1 and left(coalesce(current_query(), ''), length(marker)) = marker then
    return null;
  end if;
  begin
    head := '{"t":' || to_json(tag)::text || ',"s":' || to_json(TG_TABLE_SCHEMA::text)::text || ',"op":"' || left(TG_OP, 1) || '","x":"' || txid_current()::text || '","r":[';
    -- static queries, so that plpgsql plans them once per session
    if TG_OP = 'INSERT' then
      rows := array(select jsonb_build_object('k', (select jsonb_object_agg(c, j -> c) from unnest(key_columns) c))
        from (select to_jsonb(n) as j from dcrf_new n) s);
    elsif TG_OP = 'DELETE' then
      rows := array(select jsonb_build_object('k', (select jsonb_object_agg(c, j -> c) from unnest(key_columns) c), 'o', j)
        from (select to_jsonb(o) as j from dcrf_old o) s);
    else
      -- rows are paired by key: an update that changed a key deletes the old one and creates the new
      rows := array(
        with o as (select (select jsonb_object_agg(c, j -> c) from unnest(key_columns) c) as k, j from (select to_jsonb(x) as j from dcrf_old x) s),
             n as (select (select jsonb_object_agg(c, j -> c) from unnest(key_columns) c) as k from (select to_jsonb(x) as j from dcrf_new x) s)
        select jsonb_strip_nulls(jsonb_build_object('k', coalesce(n.k, o.k), 'o', o.j,
                 'a', case when n.k is null then 'D' when o.k is null then 'I' end))
          from o full join n on o.k = n.k);
    end if;
    foreach e in array rows loop
      r_o := e -> 'o';
      item := (e - 'o')::text;
      if r_o is not null then
        if octet_length(head) + octet_length(item) + octet_length(r_o::text) + 8 <= ${PAYLOAD_LIMIT} then
          item := left(item, -1) || ',"o":' || r_o::text || '}';
        else
          -- too large whole: the small values still tell which groups the row was in
          r_o := (select coalesce(jsonb_object_agg(v.key, v.value), '{}'::jsonb) from jsonb_each(r_o) v where octet_length(v.value::text) <= ${SMALL_VALUE});
          if octet_length(head) + octet_length(item) + octet_length(r_o::text) + 17 <= ${PAYLOAD_LIMIT} then
            item := left(item, -1) || ',"p":true,"o":' || r_o::text || '}';
          end if;
        end if;
      end if;
      if octet_length(head) + octet_length(item) + 2 > ${PAYLOAD_LIMIT} then
        lost := lost + 1;
      else
        if chunk <> '' and octet_length(head) + octet_length(chunk) + octet_length(item) + 3 > ${PAYLOAD_LIMIT} then
          perform pg_notify(channel, head || chunk || ']}');
          chunk := '';
        end if;
        chunk := case when chunk = '' then item else chunk || ',' || item end;
      end if;
    end loop;
    if chunk <> '' then
      perform pg_notify(channel, head || chunk || ']}');
    end if;
    if lost > 0 then
      perform pg_notify(channel, '{"t":' || to_json(tag)::text || ',"s":' || to_json(TG_TABLE_SCHEMA::text)::text || ',"op":"' || left(TG_OP, 1) || '","lost":' || lost || '}');
    end if;
  exception when others then
    -- a failed report must not fail the write
    raise warning 'dcrf: changes of % were not reported: %', tag, sqlerrm;
    begin
      perform pg_notify(channel, '{"t":' || to_json(tag)::text || ',"op":"' || left(TG_OP, 1) || '","lost":-1}');
    exception when others then
      null;
    end;
  end;
  return null;
end
$dcrf$`
}

const EVENTS = [
  { name: 'dcrf_changes_insert', event: 'insert', referencing: 'new table as dcrf_new' },
  { name: 'dcrf_changes_update', event: 'update', referencing: 'old table as dcrf_old new table as dcrf_new' },
  { name: 'dcrf_changes_delete', event: 'delete', referencing: 'old table as dcrf_old' }
] as const

/**
 * The schema a table resolves to on `db` (through its search path): notifications name the schema
 * of the table that changed, and a same-named table of another schema is another table.
 */
export async function schemaOf (db: Database, table: PgTable): Promise<string | undefined> {
  const result = await db.execute(sql.raw(`select n.nspname::text as s from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = to_regclass(${literal(render(sql`${table}`))})`))
  return resultRows<{ s: string }>(result)[0]?.s
}

/** The rows of `db.execute`: postgres.js returns them as they are, PGlite in `rows`. */
export function resultRows<TRow> (result: unknown): TRow[] {
  return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as TRow[]
}

/** What external changes know of a table; throws the option error for one without a primary key (rows are read back by key). */
export function keyedTableInfo (table: PgTable): TableInfo {
  const info = tableInfo(table)
  if (info.pk.length === 0) throw new errors.DCRF_ERR_INVALID_OPTION('externalChanges.tables', `table ${info.identity} has no primary key`)
  return info
}

function triggerStatements (table: PgTable, channel: string): string[] {
  const info = keyedTableInfo(table)
  const name = render(sql`${table}`)
  const args = [channel, info.identity, ...info.pk.map((i) => info.columns[i].name)].map(literal).join(', ')
  const statements: string[] = []
  for (const { name: trigger, event, referencing } of EVENTS) {
    // DROP + CREATE rather than CREATE OR REPLACE TRIGGER, which PostgreSQL has only from 14 on
    statements.push(`drop trigger if exists ${trigger} on ${name}`)
    statements.push(`create trigger ${trigger} after ${event} on ${name} referencing ${referencing} for each statement execute function ${FUNCTION_NAME}(${args})`)
  }
  return statements
}

/** A NOTIFY channel name the trigger and both drivers take as it is; throws the option error otherwise. */
export function checkChannel (channel: unknown): string {
  // PGlite puts the channel into LISTEN unquoted
  if (typeof channel !== 'string' || !/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new errors.DCRF_ERR_INVALID_OPTION('externalChanges.channel', 'must be a lowercase identifier (letters, digits, underscores)')
  return channel
}

/** The statements that install external changes, in order. */
function externalChangesStatements (options: ExternalChangesOptions): string[] {
  const channel = checkChannel(options.channel ?? DEFAULT_CHANNEL)
  return [functionSql(), ...options.tables.flatMap((table) => triggerStatements(table, channel))]
}

/**
 * The SQL that {@link installExternalChanges} runs, as text: for a migration, when the
 * application's role may not run DDL. Run it in one transaction; it can be run again.
 *
 * @example
 * ```ts
 * writeFileSync('drizzle/0042_dcrf_changes.sql', externalChangesSql({ tables: [rooms, messages] }))
 * ```
 */
export function externalChangesSql (options: ExternalChangesOptions): string {
  return externalChangesStatements(options).join(';\n\n') + ';\n'
}

/**
 * Installs (or re-installs) the trigger function and the triggers of `options.tables`, in one
 * transaction, serialized against other processes starting at the same time. Safe to call at
 * every start, on any PostgreSQL from 11 on and on PGlite.
 *
 * @example
 * ```ts
 * const externalChanges = { tables: [rooms, messages] }
 * await installExternalChanges(db, externalChanges)
 * await app.register(dcrf, { db, externalChanges })
 * ```
 */
export async function installExternalChanges (db: Database, options: ExternalChangesOptions): Promise<void> {
  const statements = externalChangesStatements(options)
  await db.transaction(async (tx) => {
    // two processes replacing the function at once would fail with "tuple concurrently updated"
    await tx.execute(sql.raw(`select pg_advisory_xact_lock(${0x64637266})`))
    await tx.execute(sql.raw('set local client_min_messages = warning'))
    for (const statement of statements) await tx.execute(sql.raw(statement))
  })
}
