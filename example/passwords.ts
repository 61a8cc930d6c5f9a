/**
 * Password hashes with node:crypto's scrypt: `scrypt$<salt>$<hash>`, both base64url. Users are
 * created with a hash (the users consumer, the REST API, the seed) and checked at login.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const derive = promisify(scrypt) as (password: string, salt: Buffer, length: number) => Promise<Buffer>
const KEY_LENGTH = 32

/** The longest password accepted, at sign-up and at login: hashing a longer one is work for nothing. */
export const PASSWORD_MAX_LENGTH = 1024

/** Hashes a password with a fresh random salt. */
export async function hashPassword (password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await derive(password, salt, KEY_LENGTH)
  return `scrypt$${salt.toString('base64url')}$${hash.toString('base64url')}`
}

/** Whether `password` matches a hash made by `hashPassword`. */
export async function verifyPassword (password: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false
  const expected = Buffer.from(hash, 'base64url')
  if (expected.length === 0) return false
  const actual = await derive(password, Buffer.from(salt, 'base64url'), expected.length)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

// Checked when the username is unknown, so that a login takes as long whether the user exists or
// not: the time of an answer does not tell which usernames are taken.
let unknownUserHash: Promise<string> | undefined

/** Spends the time of a password check, and answers no: the login of a username nobody has. */
export async function verifyUnknownUser (password: string): Promise<false> {
  unknownUserHash ??= hashPassword(randomBytes(16).toString('base64url'))
  await verifyPassword(password, await unknownUserHash)
  return false
}

/** Values to write with the password, if any, replaced by its hash. */
export async function withHashedPassword<TValues extends { password?: unknown }> (values: TValues): Promise<TValues> {
  return typeof values.password === 'string' ? { ...values, password: await hashPassword(values.password) } : values
}
