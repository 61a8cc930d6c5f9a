/**
 * DCRF's model mixins as action factories: spread the ones a consumer needs into its actions,
 * `actions: { ...mixins.list(), ...mixins.retrieve() }`, or all six with `...crud()`. Each write has
 * an overridable step (DCRF's `perform_create`, `perform_update`, `perform_patch`, `perform_delete`).
 */
import { and, eq } from 'drizzle-orm'
import type {
  ActionArgs,
  AnyContext,
  CreateOptions,
  CrudActions,
  CrudOptions,
  DeleteOptions,
  MixinAction,
  MixinOptions,
  PatchOptions,
  UpdateOptions
} from '../../types/index.js'
import { notFound, validationError } from '../errors.js'
import { genericOf, lookupWhere, serializeRows, writing, type GenericConfig } from '../generic-consumer.js'
import { isPlainObject } from '../protocol.js'
import { pythonType } from '../serializer-fields.js'

type Row = Record<string, unknown>
type Ctx = AnyContext

/** The `data` argument of a write: required, and a JSON object. */
function dataOf (args: ActionArgs): Row {
  const { data } = args
  if (data === undefined || data === null) throw validationError({ data: ['This field is required.'] })
  if (!isPlainObject(data)) {
    throw validationError({ data: [`Invalid data. Expected a dictionary, but got ${pythonType(data)}.`] })
  }
  return data
}

function whereRow (generic: GenericConfig, row: Row) {
  return eq(generic.pkColumn, row[generic.pkKey])
}

async function insertRow (ctx: Ctx, values: Row): Promise<Row> {
  const generic = genericOf(ctx)
  const [row] = await ctx.db.insert(generic.table).values(values).returning()
  return row
}

async function updateRow (ctx: Ctx, row: Row, values: Row): Promise<Row> {
  const generic = genericOf(ctx)
  if (Object.keys(values).length === 0) return row
  const [updated] = await ctx.db.update(generic.table).set(values).where(whereRow(generic, row)).returning()
  return updated ?? row
}

async function deleteRow (ctx: Ctx, row: Row): Promise<void> {
  const generic = genericOf(ctx)
  await ctx.db.delete(generic.table).where(whereRow(generic, row))
}

/** `list`: every row of the queryset, filtered and ordered (200, `data` = array). */
export function list (options: MixinOptions = {}): { list: MixinAction<'list'> } {
  return {
    list: {
      atomic: options.atomic,
      async handler (ctx, args) {
        const generic = genericOf(ctx)
        const rows = await ctx.db.select().from(generic.table)
          .where(and(ctx.getQueryset(args), ctx.filterQueryset(args)))
          .orderBy(...generic.order)
        return { data: await serializeRows(ctx, rows, 'list') }
      }
    }
  }
}

/** `retrieve`: the row of `pk` (200), or 404. */
export function retrieve (options: MixinOptions = {}): { retrieve: MixinAction<'retrieve'> } {
  return {
    retrieve: {
      atomic: options.atomic,
      async handler (ctx, args) {
        return { data: await ctx.serialize(await ctx.getObject(args), 'retrieve') }
      }
    }
  }
}

/** `create`: validates `data`, inserts it (201, `data` = the new row). */
export function create (options: CreateOptions = {}): { create: MixinAction<'create'> } {
  const perform = options.performCreate ?? insertRow
  return {
    create: {
      atomic: options.atomic,
      async handler (ctx, args) {
        const values = await ctx.getSerializer('create').validate(dataOf(args), { partial: false, context: ctx.serializerContext() })
        const row = await writing(genericOf(ctx), () => perform(ctx, values, args))
        return { data: await ctx.serialize(row, 'create'), status: 201 }
      }
    }
  }
}

/**
 * The update and patch actions. With the default write and a lookup a write can find by itself,
 * one `UPDATE … WHERE <lookup> AND <queryset> RETURNING` (no row: the 404); invalid data still
 * looks the row up, since DCRF answers a missing row's 404 before a 400.
 */
function updating<TKind extends 'update' | 'patch'> (action: TKind, perform: ((ctx: Ctx, row: Row, values: Row, args: ActionArgs) => Promise<Row>) | undefined, atomic: boolean | undefined): MixinAction<TKind> {
  const validate = (ctx: Ctx, args: ActionArgs): Promise<Row> =>
    ctx.getSerializer(action).validate(dataOf(args), { partial: action === 'patch', context: ctx.serializerContext() })
  return {
    atomic,
    async handler (ctx, args) {
      const generic = genericOf(ctx)
      if (perform === undefined && generic.writesByLookup) {
        const where = lookupWhere(ctx, generic, args)
        let values: Row
        try {
          values = await validate(ctx, args)
        } catch (err) {
          await ctx.getObject(args)
          throw err
        }
        if (Object.keys(values).length === 0) return { data: await ctx.serialize(await ctx.getObject(args), action) }
        const [updated] = await writing(generic, () => ctx.db.update(generic.table).set(values).where(where).returning())
        if (updated === undefined) throw notFound()
        return { data: await ctx.serialize(updated, action) }
      }
      const row = await ctx.getObject(args)
      const values = await validate(ctx, args)
      const updated = await writing(generic, () => (perform ?? updateRow)(ctx, row, values, args))
      return { data: await ctx.serialize(updated, action) }
    }
  }
}

/** `update`: validates the whole `data` and writes it to the row of `pk` (200). */
export function update (options: UpdateOptions = {}): { update: MixinAction<'update'> } {
  return { update: updating('update', options.performUpdate, options.atomic) }
}

/** `patch`: validates the fields given in `data` and writes them to the row of `pk` (200). */
export function patch (options: PatchOptions = {}): { patch: MixinAction<'patch'> } {
  return { patch: updating('patch', options.performPatch, options.atomic) }
}

/** `delete`: deletes the row of `pk` (204, `data` = null), in one statement when the lookup allows. */
function deleteMixin (options: DeleteOptions = {}): { delete: MixinAction<'delete'> } {
  const perform = options.performDelete ?? deleteRow
  return {
    delete: {
      atomic: options.atomic,
      async handler (ctx, args) {
        const generic = genericOf(ctx)
        if (options.performDelete === undefined && generic.writesByLookup) {
          const where = lookupWhere(ctx, generic, args)
          const deleted = await writing(generic, () => ctx.db.delete(generic.table).where(where).returning({ pk: generic.pkColumn }))
          if (deleted.length === 0) throw notFound()
          return { data: null, status: 204 }
        }
        const row = await ctx.getObject(args)
        await writing(generic, () => perform(ctx, row, args))
        return { data: null, status: 204 }
      }
    }
  }
}
export { deleteMixin as delete }

/** All six model actions: `list`, `retrieve`, `create`, `update`, `patch`, `delete`. */
export function crud (options: CrudOptions = {}): CrudActions {
  return {
    ...list(options),
    ...retrieve(options),
    ...create(options),
    ...update(options),
    ...patch(options),
    ...deleteMixin(options)
  }
}
