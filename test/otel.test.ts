import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { defineConsumer } from 'fastify-dcrf'
import { instrumentActions } from 'fastify-dcrf/otel'
import { build, Client, reply } from './helpers.js'

test('each action is a span, and what it does inside is its child', async (t) => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const contextManager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(contextManager)
  t.after(() => { context.disable(); contextManager.disable() })
  const tracer = provider.getTracer('test')
  const stop = instrumentActions({ tracer })
  t.after(stop)

  const { app } = await build(t)
  app.dcrf.multiplex('/ws/', {
    jobs: defineConsumer({
      actions: {
        // What a database instrumentation does: a span under whatever context is active.
        work: async () => {
          await sleep(1)
          tracer.startSpan('SELECT jobs', undefined, context.active()).end()
          return { data: 'done' }
        },
        crash: () => { throw new Error('disk on fire') }
      }
    })
  })
  const client = await Client.open(app, '/ws/')
  assert.deepEqual(await client.request({ stream: 'jobs', payload: { action: 'work', request_id: 1 } }), { stream: 'jobs', payload: reply('work', 'done', 200, 1) })
  assert.equal((await client.request({ stream: 'jobs', payload: { action: 'crash', request_id: 2 } })).payload.response_status, 500)
  assert.equal((await client.request({ stream: 'jobs', payload: { action: 'nope', request_id: 3 } })).payload.response_status, 405)

  const spans = exporter.getFinishedSpans()
  const byName = new Map(spans.map((s) => [s.name, s]))
  const work = byName.get('work /ws/ jobs')
  const query = byName.get('SELECT jobs')
  assert.ok(work && query, `spans: ${spans.map((s) => s.name).join(', ')}`)
  assert.equal(query.spanContext().traceId, work.spanContext().traceId)
  assert.equal(query.parentSpanContext?.spanId, work.spanContext().spanId, 'the query is a child of the action')
  assert.deepEqual(work.attributes, { 'dcrf.route': '/ws/', 'dcrf.action': 'work', 'dcrf.stream': 'jobs', 'dcrf.detached': false, 'dcrf.response_status': 200 })
  assert.equal(work.status.code, 0)

  const crash = byName.get('crash /ws/ jobs')!
  assert.equal(crash.status.code, 2, 'a 500 fails the span')
  assert.equal(crash.events[0]?.name, 'exception')
  const unknown = byName.get('unknown /ws/ jobs')!
  assert.equal(unknown.attributes['dcrf.response_status'], 405)
  assert.notEqual(unknown.spanContext().traceId, work.spanContext().traceId, 'each action starts its own trace')
  assert.equal(trace.getSpan(context.active()), undefined, 'nothing leaks into the test\'s context')
})
