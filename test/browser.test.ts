/**
 * The example's pages in headless Chromium, driven by playwright-core: DCRF's "Generic API
 * consumer" page clicked through, and a chat between two signed-in users in two browser contexts.
 * A screenshot of each page is left in /tmp (example-*.png). Skipped when Chromium is not
 * installed at /usr/bin/chromium.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { buildApp } from '../example/app.js'
import { sleep } from './helpers.js'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const SKIP = 'Chromium not found at /usr/bin/chromium: browser tests skipped'

/**
 * The example on a loopback port, and Chromium (playwright gives each launch a new, empty profile);
 * both closed after the test. Each user gets a browser context of their own: no shared storage.
 */
async function setup (t: TestContext): Promise<{ base: string, newContext: () => Promise<BrowserContext> }> {
  const app = await buildApp()
  t.after(() => app.close())
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
  t.after(() => browser.close())
  return { base, newContext: () => browser.newContext({ viewport: { width: 1100, height: 800 } }) }
}

/** Polls `check` (in Node: the project has no DOM types) until it holds; fails after 5 s. */
async function until (check: () => Promise<boolean>, what: string): Promise<void> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(25)) {
    if (await check()) return
  }
  assert.fail(`timed out waiting for ${what}`)
}

/** Clicks a button of the users page and returns what it shows, once it is the result of that click (the page's `call`-th). */
async function click (page: Page, button: string, call: number): Promise<unknown> {
  await page.click(`#${button}`)
  let shown: { call?: unknown } = {}
  await until(async () => {
    try {
      shown = JSON.parse((await page.textContent('#response')) ?? '')
    } catch {}
    return shown.call === call
  }, `the result of ${button} (${call})`)
  return shown
}

const ok = (call: number, action: string, data: unknown): unknown => ({ call, action, data })
const failed = (call: number, action: string, status: number, errors: unknown[]): unknown => ({ call, action, status, errors })

/** The live table of the users page, a row per user: id, username, email. */
const table = (page: Page): Promise<string[]> => page.locator('#users tbody tr').evaluateAll((rows) =>
  rows.map((row) => [...(row as any).cells].map((cell: any) => cell.textContent).join(' ')))

async function waitForTable (page: Page, expected: string[], what: string): Promise<void> {
  let rows: string[] = []
  try {
    await until(async () => (rows = await table(page)).join('|') === expected.join('|'), what)
  } catch {
    assert.deepEqual(rows, expected, what)
  }
}

const SEEDED = ['1 test1 test1@example.com', '2 test2 test2@example.com', '3 test3 test3@example.com']

test('/users/: the generic API consumer page lists, creates, retrieves, patches, updates and deletes through the client', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(SKIP)
  const { base, newContext } = await setup(t)
  const page = await (await newContext()).newPage()

  await page.goto(`${base}/`)
  assert.equal(await page.title(), 'fastify-dcrf example')
  await page.screenshot({ path: '/tmp/example-index.png', fullPage: true })
  await page.click('text=Generic API consumer >> nth=0')
  await page.waitForURL(`${base}/users/`)
  await page.waitForSelector('#status.ok')
  assert.equal(await page.textContent('#status'), 'connected')
  await waitForTable(page, SEEDED, 'the seeded users listed')

  const u1 = { id: 1, username: 'test1', email: 'test1@example.com' }
  const u2 = { id: 2, username: 'test2', email: 'test2@example.com' }
  const u3 = { id: 3, username: 'test3', email: 'test3@example.com' }
  assert.deepEqual(await click(page, 'list', 1), ok(1, 'list', [u1, u2, u3]))
  assert.deepEqual(await click(page, 'retrieve', 2), ok(2, 'retrieve', u2))
  // The page's defaults are those of DCRF's docs.
  const created = { id: 4, username: 'newuser4', email: '4@example.com' }
  assert.deepEqual(await click(page, 'create', 3), ok(3, 'create', created))
  assert.deepEqual(await click(page, 'create', 4), failed(4, 'create', 400, [{ username: ['user with this username already exists.'] }]))
  await page.fill('#pk', '4')
  await page.fill('#email', 'edited@example.com')
  assert.deepEqual(await click(page, 'patch', 5), ok(5, 'patch', { ...created, email: 'edited@example.com' }))
  await page.fill('#username', 'user 4')
  assert.deepEqual(await click(page, 'update', 6), ok(6, 'update', { id: 4, username: 'user 4', email: 'edited@example.com' }))
  assert.deepEqual(await click(page, 'retrieve', 7), ok(7, 'retrieve', { id: 4, username: 'user 4', email: 'edited@example.com' }))
  await waitForTable(page, [...SEEDED, '4 user 4 edited@example.com'], 'its own changes in its table')
  await page.screenshot({ path: '/tmp/example-users.png', fullPage: true })
  assert.deepEqual(await click(page, 'delete', 8), ok(8, 'delete', null))
  assert.deepEqual(await click(page, 'retrieve', 9), failed(9, 'retrieve', 404, ['Not found']))
  assert.deepEqual(await click(page, 'list', 10), ok(10, 'list', [u1, u2, u3]))
  await waitForTable(page, SEEDED, 'the deleted user gone from its table')
})

test('/users/: the live table of one page follows the creates, changes and deletes made in another, and over REST', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(SKIP)
  const { base, newContext } = await setup(t)
  const writer = await (await newContext()).newPage()
  const watcher = await (await newContext()).newPage()
  for (const page of [writer, watcher]) {
    await page.goto(`${base}/users/`)
    await page.waitForSelector('#status.ok')
    await waitForTable(page, SEEDED, 'the seeded users listed')
  }

  assert.deepEqual(await click(writer, 'create', 1), ok(1, 'create', { id: 4, username: 'newuser4', email: '4@example.com' }))
  await waitForTable(watcher, [...SEEDED, '4 newuser4 4@example.com'], 'the other page\'s create')
  await writer.fill('#pk', '4')
  await writer.fill('#email', 'edited@example.com')
  await click(writer, 'patch', 2)
  await waitForTable(watcher, [...SEEDED, '4 newuser4 edited@example.com'], 'the other page\'s patch')
  await writer.fill('#pk', '2')
  await writer.fill('#username', 'renamed')
  await click(writer, 'update', 3)
  const renamed = ['1 test1 test1@example.com', '2 renamed edited@example.com', '3 test3 test3@example.com', '4 newuser4 edited@example.com']
  await waitForTable(watcher, renamed, 'the other page\'s update')
  await watcher.screenshot({ path: '/tmp/example-users-live.png', fullPage: true })
  await writer.fill('#pk', '4')
  await click(writer, 'delete', 4)
  await waitForTable(watcher, renamed.slice(0, 3), 'the other page\'s delete')

  // A sign-up over the REST API, not through any socket, reaches both tables.
  const response = await fetch(`${base}/api/users/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'rest', email: 'rest@example.com', password: 'secret123' })
  })
  assert.equal(response.status, 201)
  const { id } = await response.json() as { id: number }
  for (const page of [watcher, writer]) await waitForTable(page, [...renamed.slice(0, 3), `${id} rest rest@example.com`], 'a sign-up over REST')
  // The page never shows a password, nor its hash: the events carry none.
  assert.doesNotMatch((await watcher.content()), /secret123|scrypt\$/)
})

/** Signs in on the chat index and enters a room by name; returns the room page. */
async function enterRoom (context: BrowserContext, base: string, username: string, password: string, room: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(`${base}/chat/`)
  await page.fill('#login-username', username)
  await page.fill('#login-password', password)
  await page.click('#login-submit')
  await page.waitForSelector('#room-card:not([hidden])')
  assert.equal(await page.textContent('header .who'), `Signed in as ${username}`)
  await page.fill('#room-name-input', room)
  await page.click('#room-name-submit')
  await page.waitForURL(/\/chat\/room\/\d+\/$/)
  await page.waitForSelector('#status.ok')
  return page
}

const members = (page: Page): Promise<string[]> => page.locator('#current-users li').allTextContents()

async function waitForMembers (page: Page, expected: string[]): Promise<void> {
  await until(async () => (await members(page)).join(',') === expected.join(','), `members ${expected.join(', ')}`)
}

async function waitForMessage (page: Page, text: string): Promise<{ meta: string, mine: boolean }> {
  const message = page.locator('#chat-log .message', { hasText: text })
  await message.waitFor()
  return { meta: (await message.locator('.meta').textContent()) ?? '', mine: (await message.getAttribute('class'))!.includes('mine') }
}

test('/chat/: two users in two browsers talk in a room, live', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(SKIP)
  const { base, newContext } = await setup(t)
  const first = await newContext()
  const second = await newContext()

  // A wrong password is refused on the page.
  const index = await first.newPage()
  await index.goto(`${base}/chat/`)
  await index.fill('#login-username', 'test1')
  await index.fill('#login-password', 'wrong')
  await index.click('#login-submit')
  await index.locator('#login-error', { hasText: /./ }).waitFor()
  assert.equal(await index.textContent('#login-error'), 'Invalid username or password.')
  await index.screenshot({ path: '/tmp/example-chat-login.png', fullPage: true })
  await index.close()

  const one = await enterRoom(first, base, 'test1', 'password1', 'general')
  assert.equal(await one.textContent('#room-name'), 'general')
  assert.equal(await one.textContent('#room-host'), 'Opened by test1.')
  await waitForMembers(one, ['test1'])

  // The second user opens the room by the same name from the index, after seeing it listed.
  const page = await second.newPage()
  await page.goto(`${base}/chat/`)
  await page.fill('#login-username', 'test2')
  await page.fill('#login-password', 'password2')
  await page.click('#login-submit')
  await page.waitForSelector('#rooms li a')
  assert.deepEqual(await page.locator('#rooms li a').allTextContents(), ['general'])
  await page.screenshot({ path: '/tmp/example-chat.png', fullPage: true })
  await page.close()
  const two = await enterRoom(second, base, 'test2', 'password2', 'general')
  assert.equal(one.url(), two.url())
  await waitForMembers(two, ['test1', 'test2'])
  await waitForMembers(one, ['test1', 'test2'])

  await one.fill('#chat-message-input', 'hello from test1')
  await one.press('#chat-message-input', 'Enter')
  const received = await waitForMessage(two, 'hello from test1')
  assert.match(received.meta, /^test1 · /)
  assert.equal(received.mine, false)
  assert.equal((await waitForMessage(one, 'hello from test1')).mine, true)
  assert.equal(await one.inputValue('#chat-message-input'), '')

  await two.fill('#chat-message-input', 'hi test1, test2 here')
  await two.click('#chat-message-submit')
  assert.match((await waitForMessage(one, 'hi test1, test2 here')).meta, /^test2 · /)
  await one.screenshot({ path: '/tmp/example-chat-room.png', fullPage: true })

  // A newcomer sees the history; a member who leaves disappears from the others' list.
  const later = await enterRoom(await newContext(), base, 'test3', 'password3', 'general')
  await waitForMessage(later, 'hello from test1')
  await waitForMessage(later, 'hi test1, test2 here')
  await waitForMembers(one, ['test1', 'test2', 'test3'])
  await two.close()
  await waitForMembers(one, ['test1', 'test3'])
  assert.deepEqual(await members(later), ['test1', 'test3'])
})

test('/chat/room/:id/: deleting the room\'s host on the users page cascades the room away, and its page says so', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(SKIP)
  const { base, newContext } = await setup(t)
  const host = await enterRoom(await newContext(), base, 'test3', 'password3', 'doomed')
  const guest = await enterRoom(await newContext(), base, 'test2', 'password2', 'doomed')
  await waitForMembers(guest, ['test2', 'test3'])
  await host.fill('#chat-message-input', 'last words')
  await host.press('#chat-message-input', 'Enter')
  await waitForMessage(guest, 'last words')

  const users = await (await newContext()).newPage()
  await users.goto(`${base}/users/`)
  await users.waitForSelector('#status.ok')
  await users.fill('#pk', '3')
  assert.deepEqual(await click(users, 'delete', 1), ok(1, 'delete', null))

  await guest.locator('#error', { hasText: 'This room no longer exists.' }).waitFor()
  assert.equal(await guest.textContent('#status'), 'room deleted')
  assert.equal(await guest.isDisabled('#chat-message-input'), true)
  assert.equal(await guest.isDisabled('#chat-message-submit'), true)
  await guest.screenshot({ path: '/tmp/example-chat-room-gone.png', fullPage: true })
  // The deleted host's own socket is closed (4401) and not reopened: its page says it is disconnected or the room gone.
  await until(async () => ['disconnected', 'room deleted'].includes((await host.textContent('#status')) ?? ''), 'the host\'s page to stop')
})
