/** The refinements of drizzle-typebox's schemas that give a serializer DRF's input rules. */
import { Kind, OptionalKind, Type, type TSchema } from '@sinclair/typebox'

/** `T | null` → `T`: null is the serializer's to judge; the rest of the schema gives the message. */
export function nonNull (schema: TSchema): TSchema {
  if (schema[Kind] !== 'Union') return schema
  const members = (schema.anyOf as TSchema[]).filter((member) => member[Kind] !== 'Null')
  if (members.length === schema.anyOf.length) return schema
  const unwrapped = members.length === 1 ? members[0] : Type.Union(members)
  return schema[OptionalKind] === 'Optional' ? Type.Optional(unwrapped) : unwrapped
}

// DRF's EmailField and URLField.
const FORMAT_MAX_LENGTH: Readonly<Record<string, number>> = { email: 254, uri: 200 }

/** A refined schema with the `maxLength` DRF's ModelSerializer would give it: the column's, else its format's. */
export function withMaxLength (schema: TSchema, column: TSchema): TSchema {
  switch (schema[Kind]) {
    case 'String': {
      if (typeof schema.maxLength === 'number') return schema
      const maxLength = typeof column.maxLength === 'number'
        ? column.maxLength
        : typeof schema.format === 'string' && Object.hasOwn(FORMAT_MAX_LENGTH, schema.format) ? FORMAT_MAX_LENGTH[schema.format] : undefined
      return maxLength === undefined ? schema : { ...schema, maxLength }
    }
    case 'Array':
      return schema.items === undefined ? schema : { ...schema, items: withMaxLength(schema.items as TSchema, (column.items ?? {}) as TSchema) }
    case 'Union':
      return { ...schema, anyOf: (schema.anyOf as TSchema[]).map((member) => withMaxLength(member, column)) }
    default:
      return schema
  }
}
