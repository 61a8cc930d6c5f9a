import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Registry } from 'prom-client'
import { action, defineConsumer, observer } from 'fastify-dcrf'
import { dcrfMetrics } from 'fastify-dcrf/metrics'
import { build, Client } from './helpers.js'

/** The value of one series of a metric (`undefined` when it has none with these labels). */
async function value (registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name)
  assert.ok(metric, `${name} is registered`)
  const { values } = await metric.get()
  const found = values.find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l) &&
    Object.keys(v.labels).filter((k) => k !== 'le').every((k) => k in labels))
  return found?.value
}

const feed = defineConsumer({
  observers: { news: observer('news') },
  actions: {
    echo: (_ctx, args) => ({ data: args }),
    watch: action({
      async handler (ctx, _args, { requestId }) {
        await ctx.observer('news').subscribe({ requestId })
        return { status: 201 }
      }
    })
  }
})

async function until (check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300 && !await check(); i++) await sleep(10)
  assert.ok(await check(), what)
}

test('the metrics adapter counts real traffic on a private registry, with labels only from defined names', async (t) => {
  const registry = new Registry()
  const metrics = dcrfMetrics({ registry })
  t.after(() => metrics.close())
  const { app } = await build(t, { rateLimit: { max: 5, timeWindow: 60_000 } })
  app.dcrf.consumer('/ws/feed/', feed)
  app.dcrf.consumer('/ws/closed/', defineConsumer({ ...feed, permissions: [{ canConnect: () => false }] }))

  const first = await Client.open(app, '/ws/feed/')
  const second = await Client.open(app, '/ws/feed/')
  assert.equal(await Client.refused(app, '/ws/closed/'), 403)
  assert.equal(await value(registry, 'dcrf_connections_open', { route: '/ws/feed/' }), 2)
  assert.equal(await value(registry, 'dcrf_connections_total', { route: '/ws/feed/', outcome: 'accepted' }), 2)
  await until(async () => await value(registry, 'dcrf_connections_total', { route: '/ws/closed/', outcome: 'refused' }) === 1, 'the refusal is counted')

  await first.request({ action: 'echo', request_id: 'secret-id-1' })
  await first.request({ action: 'echo', request_id: 'secret-id-2' })
  await first.request({ action: 'made-up-by-a-client', request_id: 3 })
  await first.request({ action: 'watch', request_id: 'w1' })
  await second.request({ action: 'watch', request_id: 'w2' })
  assert.equal(await value(registry, 'dcrf_actions_total', { route: '/ws/feed/', stream: '', action: 'echo', status: '200' }), 2)
  assert.equal(await value(registry, 'dcrf_actions_total', { route: '/ws/feed/', stream: '', action: 'unknown', status: '405' }), 1)
  assert.equal(await value(registry, 'dcrf_actions_total', { route: '/ws/feed/', stream: '', action: 'watch', status: '201' }), 2)
  assert.equal(await value(registry, 'dcrf_subscriptions_active', { route: '/ws/feed/' }), 2)
  const text = await registry.metrics()
  assert.ok(!text.includes('made-up-by-a-client'), 'a client\'s action name is no label value')
  assert.ok(!text.includes('secret-id'), 'request ids are no label values')
  assert.match(text, /dcrf_action_duration_seconds_count\{route="\/ws\/feed\/",stream="",action="echo",status="200"\} 2/)

  await app.dcrf.signal('news', { headline: 'hi' })
  await first.next()
  await second.next()
  assert.equal(await value(registry, 'dcrf_observer_events_total', { observer: 'signal:news.news', action: 'news' }), 1)
  assert.match(await registry.metrics(), /dcrf_fanout_latency_seconds_count\{observer="signal:news.news"\} 2/)
  assert.equal(await value(registry, 'dcrf_channel_layer_groups'), 1)
  assert.equal(await value(registry, 'dcrf_channel_layer_up'), 1)

  // 4 frames from `first` so far: the sixth is over the rate limit.
  assert.equal((await first.request({ action: 'echo' })).response_status, 200)
  assert.equal((await first.request({ action: 'echo' })).response_status, 429)
  assert.equal(await value(registry, 'dcrf_throttled_total', { route: '/ws/feed/', limit: 'rate' }), 1)
  assert.equal(await value(registry, 'dcrf_frames_received_total', { route: '/ws/feed/' }), 7)
  // Every frame received was answered, and both got the signal's event.
  assert.equal(await value(registry, 'dcrf_frames_sent_total', { route: '/ws/feed/' }), 9)
  assert.ok((await value(registry, 'dcrf_frame_bytes_sent_total', { route: '/ws/feed/' }))! > 9 * 60)

  first.close()
  await until(async () => await value(registry, 'dcrf_connections_open', { route: '/ws/feed/' }) === 1, 'the closed connection is no longer open')
  assert.equal(await value(registry, 'dcrf_subscriptions_active', { route: '/ws/feed/' }), 1)
  assert.match(await registry.metrics(), /dcrf_connection_duration_seconds_count\{route="\/ws\/feed\/"\} 1/)
})

test('close() unsubscribes and unregisters: the default registry is untouched by a private one', async (t) => {
  const registry = new Registry()
  const metrics = dcrfMetrics({ registry, prefix: 'ws_' })
  assert.ok(registry.getSingleMetric('ws_actions_total'))
  metrics.close()
  assert.equal(registry.getSingleMetric('ws_actions_total'), undefined)
  const { app } = await build(t)
  app.dcrf.consumer('/ws/feed/', feed)
  const client = await Client.open(app, '/ws/feed/')
  await client.request({ action: 'echo' })
  assert.equal(await registry.metrics(), '\n')
})
