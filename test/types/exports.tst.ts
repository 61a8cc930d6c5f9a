/**
 * Every type a public signature uses is exported from the package root, from `types/`.
 */
import type { TSchema } from '@sinclair/typebox'
import { expect, test } from 'tstyche'
import {
  captureChanges,
  compileValidator,
  databaseValidationError,
  defineConsumer,
  defineStreams,
  mixins,
  paginatedList,
  validationError,
  viewAsConsumer,
  type CaptureOptions,
  type ChangeAction,
  type ChangeEvent,
  type CreateOptions,
  type CrudOptions,
  type DatabaseErrorOptions,
  type FieldErrors,
  type inferArgs,
  type MixinAction,
  type MixinOptions,
  type PaginationOptions,
  type ValidationErrorDetail,
  type Validator,
  type ViewAsConsumerOptions
} from 'fastify-dcrf'
import type * as dcrf from 'fastify-dcrf'
import { users } from './fixtures.js'

test('change capture: its events and options', () => {
  expect<Parameters<typeof captureChanges>[1]>().type.toBe<(events: ChangeEvent[]) => void>()
  expect<Parameters<typeof captureChanges>[2]>().type.toBe<CaptureOptions | undefined>()
  expect<ChangeAction>().type.toBe<'create' | 'update' | 'delete'>()
  expect<ChangeEvent['row']>().type.toBe<Record<string, unknown>>()
})

test('errors: field errors, the validation error, validators, database errors', () => {
  expect(validationError).type.toBe<(detail: FieldErrors | string | string[]) => ValidationErrorDetail>()
  expect(compileValidator).type.toBe<(schema: TSchema) => Validator>()
  expect<ReturnType<Validator>>().type.toBe<FieldErrors | null>()
  expect<Parameters<typeof databaseValidationError>[1]>().type.toBe<DatabaseErrorOptions>()
})

test('viewAsConsumer and the mixins: their options', () => {
  expect<Parameters<typeof viewAsConsumer>[0]>().type.toBe<ViewAsConsumerOptions>()
  expect<Parameters<typeof mixins.list>[0]>().type.toBe<MixinOptions | undefined>()
  expect<Parameters<typeof mixins.create>[0]>().type.toBe<CreateOptions | undefined>()
  expect<Parameters<typeof mixins.crud>[0]>().type.toBe<CrudOptions | undefined>()
  expect<Parameters<typeof paginatedList>[0]>().type.toBe<PaginationOptions | undefined>()
})

test('the unused Json type is gone', () => {
  expect<dcrf.Json>().type.toRaiseError("has no exported member 'Json'")
})

test('a consumer defined inside defineStreams is typed as one defined apart', () => {
  // Nothing comes from defineStreams' AnyConsumer: no `string` lookup argument, no open observer names.
  const streams = defineStreams({ users: defineConsumer({ table: users, actions: { ...mixins.retrieve() } }) })
  expect(streams.users.actions.retrieve).type.toBe<MixinAction<'retrieve'>>()
  expect<inferArgs<typeof streams.users, 'retrieve'>>().type.toBe<{ pk: number | string }>()
  expect(defineStreams({
    echo: defineConsumer({ actions: { a: async (ctx) => { await ctx.observer('typo').subscribe() } } })
  })).type.toRaiseError("Argument of type '\"typo\"' is not assignable to parameter of type 'never'")
})
