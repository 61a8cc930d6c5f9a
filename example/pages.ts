/**
 * The pages: plain HTML files from `public/`, with their scripts and styles under `/static/`.
 * No build step and no static-file plugin: a page is a file read and sent.
 *
 * - `/` links to the others
 * - `/users/` DCRF's "Generic API consumer" page, on `/ws/users/`
 * - `/chat/` the chat tutorial's index (log in, choose a room), `/chat/room/:id/` a room
 * - `/client.js` the package's own client (`fastify-dcrf/client`), which the pages import
 */
import { readdir, readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { FastifyInstance } from 'fastify'

const PUBLIC = new URL('./public/', import.meta.url)

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml'
}

const PAGES: Record<string, string> = {
  '/': 'index.html',
  '/users/': 'users.html',
  '/chat/': 'chat.html',
  '/chat/room/:id/': 'room.html'
}

export async function pages (app: FastifyInstance): Promise<void> {
  // Only the files present at start are served: a URL never becomes a path on disk.
  const files = new Set((await readdir(PUBLIC)).filter((name) => Object.hasOwn(TYPES, extname(name))))

  const send = async (name: string): Promise<Buffer> => readFile(new URL(name, PUBLIC))

  // Bundled once at start, in memory, from the TypeScript source: the user runs no build step.
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../client/index.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    minify: true,
    write: false,
    logLevel: 'silent'
  })
  const client = bundle.outputFiles[0].text
  app.get('/client.js', async (_request, reply) => reply.type(TYPES['.js']).send(client))

  for (const [url, file] of Object.entries(PAGES)) {
    app.get(url, async (_request, reply) => reply.type(TYPES['.html']).send(await send(file)))
  }

  app.get<{ Params: { file: string } }>('/static/:file', async (request, reply) => {
    const { file } = request.params
    if (!files.has(file) || file.endsWith('.html')) return reply.code(404).send({ detail: 'Not found.' })
    return reply.type(TYPES[extname(file)]).send(await send(file))
  })
}
