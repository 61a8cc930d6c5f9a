/**
 * The README's TypeScript example says what it infers in its comments: here they are asserted.
 */
import { expect, test } from 'tstyche'
import type { Comment, Found, Listed, Mention, Names, RenameArgs, Renamed, Summaries } from '../readme/typescript.js'

test('the comments of the README\'s TypeScript example are the inferred types', () => {
  expect<'rename' | 'set_name' | 'watch_comments' | 'watch_mentions' | 'echo' | 'list'>().type.toBeAssignableTo<Names>()
  expect<RenameArgs>().type.toBe<{ pk: number, username: string }>()
  expect<Renamed>().type.toBe<{ was: string, now: string }>()
  expect<Listed>().type.toBe<Array<{ id: number, username: string, email: string }>>()
  expect<Comment>().type.toBe<{ action: 'create' | 'update' | 'delete', data: { id: number, text: string } }>()
  expect<Mention>().type.toBe<{ action: 'mention', data: { id: number } }>()
  expect<Found>().type.toBe<{ name: number | string }>()
  expect<Summaries>().type.toBe<Array<{ id: number, username: string } | { id: number, username: string, email: string }>>()
})
