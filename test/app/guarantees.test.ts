/**
 * Design §5 guarantees, in process with simulated time (real HTTP, real exporter, real state file): late-indexed
 * events, the request budget, window repair after a 400, permanent rejections, the 7-day gap, liveness, shutdown.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import type { JsonObject } from '../../src/siem/types.js'
import { StateError } from '../../src/errors.js'
import { METRIC_PREFIX } from '../../src/ops/metrics.js'
import { FileStateStore } from '../../src/state/index.js'
import { H, MIN, T0, assertExactlyOnce, expectedUids, metricValue, readState, rig, uidOf } from '../helpers/e2e-rig.js'

const D = 24 * H
const until = async (cond: () => boolean, ms = 10_000): Promise<void> => {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

function lateMessage(base: JsonObject, at: number, recipient: string, id: string): JsonObject {
  return { ...base, id, recipient: [recipient], toAddresses: [recipient], messageTime: new Date(at).toISOString() }
}

for (const overlap of ['30m', '0s'] as const) {
  t.test(`late-indexed events with RECEIVER_OVERLAP=${overlap}`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: overlap })
    await r.startApp()
    await r.time.idle()
    r.time.advanceTo(T0 + 20 * MIN)
    await r.time.idle()
    // Indexed 10 minutes late: created at 12:10:30, visible only now (12:20:30), after its window was polled.
    const base = r.sim.eventsIn({ start: new Date(T0 - H), end: new Date(T0) }).messagesDelivered[0]
    t.ok(base)
    const createdAt = T0 + 10 * MIN
    r.sim.inject('messagesDelivered', lateMessage(base ?? {}, createdAt, 'alice@corp.example', 'late-1'), createdAt)
    r.sim.inject('messagesDelivered', lateMessage(base ?? {}, createdAt, 'bob@corp.example', 'late-2'), createdAt)
    r.time.advanceTo(T0 + 45 * MIN)
    await r.time.idle()
    const late = r.sink.records.filter((x) => String(x.attributes['proofpoint.id']).startsWith('late-'))
    if (overlap === '30m') {
      t.same(late.map((x) => x.attributes['proofpoint.id']).sort(), ['late-1', 'late-2'], 'both recipients, each once')
      const expected = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(readState(r.stateDir).cursor))
      assertExactlyOnce(t, r.sink, expected, await r.cutOff())
      const spans = r.sim.requests.slice(1).map((q) => {
        const [a = '', b = ''] = (q.query.interval ?? '').split('/')
        return (Date.parse(b) - Date.parse(a)) / MIN
      })
      t.ok(spans.every((m) => m <= 60), 'every request within the 1-hour maximum')
      // Fresh polls ask only the new minute; the late event came with a sweep that read its span again.
      t.ok(spans.every((m) => m <= 1 || m >= 20), `a request is a fresh poll (1 min) or a sweep (20 min or more): ${spans.join(',')}`)
      t.ok(spans.some((m) => m >= 20), 'sweeps read past spans again')
    } else {
      t.equal(late.length, 0, 'without the overlap a late event is lost: why the overlap exists')
    }
  })
}

t.test('the request budget is never exceeded, survives a restart, and the receiver waits it out', async (t) => {
  const r = await rig(t, 'http/protobuf', { PROOFPOINT_REQUEST_BUDGET: '5', RECEIVER_POLL_INTERVAL: '6h', RECEIVER_START_LOOKBACK: '7d' })
  const app1 = await r.startApp()
  await r.time.idle()
  t.equal(r.sim.requests.length, 5, 'five 1-hour catch-up windows, then it stops asking')
  const s1 = app1.status.snapshot(r.time.clock())
  t.equal(s1.apiRequestsLast24h, 5)
  t.equal(s1.state, 'budget_wait')
  t.ok(s1.requestBudget.waitingUntil, 'shows until when it waits')
  await app1.shutdown()

  const app2 = await r.startApp()
  await r.time.idle()
  t.equal(r.sim.requests.length, 5, 'a restart does not get a fresh budget')
  t.equal(app2.status.snapshot(r.time.clock()).apiRequestsLast24h, 5)

  r.time.advanceTo(T0 + D + 2 * H)
  await r.time.idle()
  t.ok(r.sim.requests.length > 5, 'asks again once old requests aged out')
  const times = r.sim.requests.map((q) => q.at)
  const worst = Math.max(...times.map((at) => times.filter((x) => x > at - D && x <= at).length))
  t.ok(worst <= 5, `at most 5 requests in any 24 h (${worst})`)
  // Waiting a day for budget let the oldest hours pass the API's 7-day limit: a gap, shown, not hidden.
  t.ok(app2.status.snapshot(r.time.clock()).gapSeconds > 0)
  const served = new Map<string, unknown>()
  for (const q of r.sim.requests) {
    const [a = '', b = ''] = (q.query.interval ?? '').split('/')
    for (const [k, v] of expectedUids(r.sim, Date.parse(a), Date.parse(b))) served.set(k, v)
  }
  t.ok(r.sim.requests.every((q) => q.status === 200 || q.status === 204), 'no request wasted on a window gone stale while waiting')
  assertExactlyOnce(t, r.sink, served, await r.cutOff())
})

t.test('a 400 for the window shrinks it instead of asking the same again; the message is logged', async (t) => {
  const r = await rig(t, 'http/protobuf')
  r.sim.failNext(2, { status: 400, body: '{"message":"The requested interval is too long"}' })
  await r.startApp()
  r.time.advanceTo(T0 + 2 * MIN)
  await r.time.idle()
  const spans = r.sim.requests.slice(0, 3).map((q) => {
    const [a = '', b = ''] = (q.query.interval ?? '').split('/')
    return [q.status, (Date.parse(b) - Date.parse(a)) / MIN]
  })
  t.same(spans, [
    [400, 59],
    [400, 30],
    [200, 15],
  ])
  t.ok(r.logs.some((l) => l.includes('The requested interval is too long')), "the API's message is in the log")
  const expected = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(readState(r.stateDir).cursor))
  assertExactlyOnce(t, r.sink, expected, await r.cutOff())
})

t.test('a permanent rejection by the collector is counted and logged, not retried forever; the cursor moves on', async (t) => {
  const r = await rig(t, 'http/protobuf')
  // Every request refused (each batch, then its two halves): the records are counted rejected.
  r.sink.failNext(100, 400, {}, 'bad attribute')
  const app = await r.startApp()
  await r.time.idle()
  const status = app.status.snapshot(r.time.clock())
  const expected = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(readState(r.stateDir).cursor))
  t.equal(status.cursor, '2026-11-24T12:00:00.000Z', 'the cursor moved on')
  t.ok(status.totals.rejected > 0, `rejected counted (${status.totals.rejected})`)
  t.equal(status.totals.rejected + r.sink.records.length, expected.size, 'delivered + rejected = every event: none silently dropped')
  const batches = Math.ceil(expected.size / 128)
  t.equal(r.sink.requests.filter((q) => q.status === 400).length, 3 * batches, `not retried: each of the ${batches} requests, then each of its halves once`)
  t.ok(r.logs.some((l) => l.includes('permanently rejected')))
  t.ok(r.sink.records.every((x) => expected.has(uidOf(x))))
})

t.test('a cursor older than the API serves moves forward; the gap is logged, counted and kept', async (t) => {
  const r = await rig(t, 'http/protobuf', {}, 0.5)
  writeFileSync(join(r.stateDir, 'state.json'), JSON.stringify({ version: 2, cursor: new Date(T0 - 8 * D).toISOString(), exportedKeys: {} }))
  const app = await r.startApp()
  r.time.advanceTo(T0 + MIN)
  await r.time.idle(60_000)
  const status = app.status.snapshot(r.time.clock())
  t.ok(status.gapSeconds > 23 * 3600 && status.gapSeconds < 25 * 3600, `about a day lost (${status.gapSeconds} s)`)
  t.ok(r.logs.some((l) => l.includes('no longer be fetched')))
  const first = r.sim.requests[0]?.query.interval?.split('/')[0] ?? ''
  t.ok(T0 - Date.parse(first) < 7 * D, 'the first window is one the API serves')
  t.equal((readState(r.stateDir) as { gapSeconds?: number }).gapSeconds, status.gapSeconds, 'kept in the state file')
  t.equal(status.cursor, '2026-11-24T12:01:00.000Z', 'caught up to now')
})

t.test('/healthz fails while the loop is stuck and recovers; /readyz explains', async (t) => {
  const r = await rig(t, 'http/protobuf', { PROOFPOINT_REQUEST_TIMEOUT: '30s' })
  r.sim.failNext(1, { status: 503, delayMs: 1500 })
  const app = await r.startApp()
  await until(() => r.sim.requests.length === 0 && app.status.snapshot(r.time.clock()).state !== 'starting')
  // The request hangs (1.5 s of real time); meanwhile 10 minutes of simulated time pass with no progress.
  r.time.jumpTo(T0 + 10 * MIN)
  const stuck = await app.ops.inject('/healthz')
  t.equal(stuck.statusCode, 503, 'a loop that made no progress for 10 minutes is not alive')
  r.time.advanceTo(T0 + 20 * MIN)
  await until(() => r.sim.requests.length >= 2).catch((err: unknown) => {
    t.comment(r.logs.slice(-10).join('\n'), JSON.stringify(r.sim.requests))
    throw err
  })
  await r.time.idle()
  const ok = await app.ops.inject('/healthz')
  t.equal(ok.statusCode, 200)
  const ready = await app.ops.inject('/readyz')
  t.equal(ready.statusCode, 200)
})

for (const workers of ['0', '2']) t.test(`/readyz and /metrics while the collector refuses from the start blame the export, not the SIEM API that answered (RECEIVER_WORKERS=${workers})`, async (t) => {
  // A window of more events than a batch: its body is not read to the end while the first batch fails.
  // The export call gives up on the refused connection (retried inside it) after OTEL_EXPORTER_OTLP_TIMEOUT.
  const r = await rig(t, 'http/protobuf', { RECEIVER_EXPORT_BATCH_SIZE: '16', RECEIVER_WORKERS: workers, OTEL_EXPORTER_OTLP_TIMEOUT: '1500' })
  await r.sink.setMode('refuse')
  const app = await r.startApp()
  await until(() => app.status.snapshot(r.time.clock()).lastExport?.outcome === 'error')
  const snap = app.status.snapshot(r.time.clock())
  t.not(snap.lastApiAnswerAt, null, 'the API answered')
  await until(() => app.status.snapshot(r.time.clock()).lastSuccessfulPollAt !== null)
  // The body is read only as fast as the collector takes its records: the request left unfinished is still counted.
  const metrics = await app.metrics.render()
  t.ok(metricValue(metrics, `${METRIC_PREFIX}api_requests_total{outcome="ok",status_code="200"}`) >= 1, 'the request the API answered is counted in /metrics')
  t.ok(metricValue(metrics, `${METRIC_PREFIX}last_successful_poll_timestamp_seconds`) > 0, 'and makes the last successful poll')
  const ready = await app.ops.inject('/readyz')
  t.equal(ready.statusCode, 503)
  const { reasons } = ready.json<{ reasons: string[] }>()
  t.match(reasons, [/export to the OTLP endpoint failed/], 'the export named')
  t.notOk(reasons.some((x) => /SIEM API/.test(x)), `nothing blames the SIEM API: ${reasons.join('; ')}`)
  await r.sink.setMode('ok')
})

t.test('shutdown while the collector hangs: prompt, and the cursor stays before the unacknowledged window', async (t) => {
  const r = await rig(t, 'http/protobuf', { OTEL_EXPORTER_OTLP_TIMEOUT: '30000' })
  await r.sink.setMode('hang')
  const app = await r.startApp()
  await until(() => r.sink.requests.length > 0 || r.sim.requests.length > 0)
  await new Promise((res) => setTimeout(res, 200))
  const started = Date.now()
  await app.shutdown()
  const ms = Date.now() - started
  t.ok(ms < 5000, `shut down in ${ms} ms while an export hung`)
  let cursor: string | undefined
  try {
    cursor = readState(r.stateDir).cursor
  } catch {
    cursor = undefined
  }
  t.not(cursor, '2026-11-24T12:00:00.000Z', 'the window was not committed')
  await r.sink.setMode('ok')
})

t.test('the no-events alert: raised once into the OTLP stream, kept across a restart, cleared when events come', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_NO_EVENTS_ALERT_AFTER: '10m' }, 0)
  const alerts = (): string[] => r.sink.records.filter((x) => x.eventName.startsWith('proofpoint.receiver.')).map((x) => x.eventName)
  const app1 = await r.startApp()
  r.time.advanceTo(T0 + 9 * MIN)
  await r.time.idle()
  t.same(alerts(), [], 'not before the threshold')
  t.equal(app1.status.snapshot(r.time.clock()).noEvents.alerting, false)

  r.time.advanceTo(T0 + 30 * MIN)
  await r.time.idle()
  t.same(alerts(), ['proofpoint.receiver.no_events'], 'raised once, not once per poll')
  const alert = r.sink.records.find((x) => x.eventName === 'proofpoint.receiver.no_events')
  t.match(alert, { severityNumber: 13, severityText: 'WARN', attributes: { 'proofpoint.receiver.no_events.threshold_seconds': 600 } })
  t.equal(alert?.attributeKinds['proofpoint.receiver.no_events.threshold_seconds'], 'int')
  t.equal(app1.status.snapshot(r.time.clock()).noEvents.alerting, true)
  t.equal(app1.status.readiness(r.time.clock()).ready, true, 'a quiet tenant is not a broken pod (default)')
  await app1.shutdown()

  const app2 = await r.startApp()
  r.time.advanceTo(T0 + 50 * MIN)
  await r.time.idle()
  t.same(alerts(), ['proofpoint.receiver.no_events'], 'not raised again after a restart')
  t.equal(app2.status.snapshot(r.time.clock()).noEvents.alerting, true)

  const base = r.sim.eventsIn({ start: new Date(T0 - H), end: new Date(T0) })
  t.equal(base.messagesDelivered.length, 0, 'a silent tenant')
  r.sim.inject('clicksBlocked', { id: 'click-after-silence', clickTime: new Date(T0 + 51 * MIN).toISOString(), url: 'https://evil.example/' }, T0 + 51 * MIN)
  r.time.advanceTo(T0 + 60 * MIN)
  await r.time.idle()
  t.same(alerts(), ['proofpoint.receiver.no_events', 'proofpoint.receiver.events_resumed'], 'cleared once')
  const resumed = r.sink.records.find((x) => x.eventName === 'proofpoint.receiver.events_resumed')
  t.match(resumed, { severityNumber: 9, severityText: 'INFO' })
  t.ok(r.sink.records.some((x) => x.attributes['proofpoint.id'] === 'click-after-silence'))
  t.equal(app2.status.snapshot(r.time.clock()).noEvents.alerting, false)
})

t.test('RECEIVER_NO_EVENTS_FAILS_READINESS=true: the alert makes /readyz fail', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_NO_EVENTS_ALERT_AFTER: '10m', RECEIVER_NO_EVENTS_FAILS_READINESS: 'true' }, 0)
  const app = await r.startApp()
  r.time.advanceTo(T0 + 15 * MIN)
  await r.time.idle()
  const res = await app.ops.inject('/readyz')
  t.equal(res.statusCode, 503)
  t.match(res.body, /no events exported/)
})

t.test('adaptive windows: after a window past RECEIVER_WINDOW_MAX_EVENTS the catch-up continues in smaller windows, nothing lost', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_START_LOOKBACK: '3h', RECEIVER_WINDOW_MAX_EVENTS: '600' }, 30)
  await r.startApp()
  await r.time.idle()
  const spans = r.sim.requests.map((q) => {
    const [a = '', b = ''] = (q.query.interval ?? '').split('/')
    return (Date.parse(b) - Date.parse(a)) / MIN
  })
  t.equal(spans[0], 60, 'the first catch-up window is the API maximum')
  t.ok((spans[1] ?? 60) <= 20, `then about a third of it (${spans.join(', ')} min)`)
  t.ok(r.logs.some((l) => l.includes('window length adapted')))
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, Date.parse(r.sim.requests[0]?.query.interval?.split('/')[0] ?? ''), Date.parse(readState(r.stateDir).cursor)), await r.cutOff())
})

t.test('attributes over OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT and requests split after a 413 are counted in /status and /metrics', async (t) => {
  const r = await rig(t, 'http/protobuf', { OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: '10' })
  r.sink.failNext(1, 413)
  const app = await r.startApp()
  await r.time.idle()
  t.ok(r.sink.records.length > 1, `records arrived (${r.sink.records.length})`)
  t.ok(r.sink.records.every((x) => Object.keys(x.attributes).length <= 10), 'at most 10 attributes per record')
  const dropped = r.sink.records.reduce((n, x) => n + x.droppedAttributesCount, 0)
  t.ok(dropped > 0, `attributes were dropped (${dropped})`)
  const status = app.status.snapshot(r.time.clock())
  t.equal(status.totals.droppedAttributes, dropped, '/status totals.droppedAttributes: each dropped attribute of a delivered record')
  t.equal(status.totals.exportSplits, 1, '/status totals.exportSplits: the request answered 413 was split once')
  const metrics = await app.metrics.render()
  t.match(metrics, new RegExp(`^proofpoint_receiver_attributes_dropped_total ${dropped}$`, 'm'))
  t.match(metrics, /^proofpoint_receiver_export_splits_total 1$/m)
  // log.record.uid may be among the dropped attributes: count the records instead of matching them.
  t.equal(r.sink.records.length, expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(readState(r.stateDir).cursor)).size, 'every event once, the split included')
})

t.test('long attribute values are cut to OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, counted, and the body stays whole', async (t) => {
  const r = await rig(t, 'http/protobuf', { OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: '64' })
  const app = await r.startApp()
  await r.time.idle()
  const status = app.status.snapshot(r.time.clock())
  t.ok(status.totals.truncated > 0, `cuts counted in /status (${status.totals.truncated})`)
  const metrics = await app.metrics.render()
  t.match(metrics, /proofpoint_receiver_attribute_values_truncated_total\{event_type="messagesDelivered"\} [1-9]/)
  for (const rec of r.sink.records) {
    for (const [k, v] of Object.entries(rec.attributes)) if (typeof v === 'string') t.ok(v.length <= 64, k)
    const body = JSON.parse(String(rec.body)) as Record<string, unknown>
    t.ok(body && typeof body === 'object', 'the body is the whole event')
    if (!t.passing()) break
  }
  t.ok(r.sink.records.some((x) => String(x.body).length > 64 && /threatUrl/.test(String(x.body))), 'long values survive in the body')
  t.ok(r.sink.records.every((x) => String(x.attributes['log.record.uid']).length === 64), 'the uid is never cut')
})

for (const workers of ['0', '2']) {
  t.test(`an event that is not valid UTF-8 is exported with U+FFFD and counted malformed (RECEIVER_WORKERS=${workers})`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_WORKERS: workers }, 0)
    r.sim.onRequest((q) => {
      r.sim.onRequest(undefined)
      const [s] = (q.query.interval ?? '').split('/')
      const at = new Date(Date.parse(s!) + MIN).toISOString()
      const event = (id: string, subject: Buffer): Buffer => Buffer.concat([Buffer.from(`{"id":"${id}","messageTime":"${at}","subject":"`), subject, Buffer.from('"}')])
      const body = Buffer.concat([Buffer.from('{"messagesDelivered":['), event('bad', Buffer.from([0x61, 0xff, 0x62])), Buffer.from(','), event('good', Buffer.from('a\u00e9b')), Buffer.from(']}')])
      return { status: 200, headers: { 'content-type': 'application/json' }, body }
    })
    const app = await r.startApp()
    await until(() => r.sink.records.length >= 2)
    const subjects = new Map(r.sink.records.map((x) => [String(x.attributes['proofpoint.id']), x.attributes['proofpoint.subject']]))
    t.same(Object.fromEntries(subjects), { bad: 'a\ufffdb', good: 'a\u00e9b' }, 'both exported, the invalid byte as U+FFFD')
    await until(() => app.status.snapshot(r.time.clock()).totals.malformed > 0)
    t.equal(app.status.snapshot(r.time.clock()).totals.malformed, 1, 'the invalid one counted malformed, the other not')
    t.ok(r.logs.some((l) => l.includes('not valid UTF-8')), 'and the reason logged')
  })
}

t.test('a window whose retry meets the spent request budget does not send again what the collector acknowledged', async (t) => {
  const r = await rig(t, 'http/protobuf', { PROOFPOINT_REQUEST_BUDGET: '5', RECEIVER_POLL_INTERVAL: '6h', RECEIVER_START_LOOKBACK: '6h', RECEIVER_EXPORT_BATCH_SIZE: '10', RECEIVER_EXPORT_CONCURRENCY: '1' })
  // The fifth request, the budget's last, is cut after some records of its window were acknowledged.
  r.sim.onRequest((q) => (r.sim.requests.indexOf(q) === 4 ? { status: 200, cutAfterBytes: 200_000 } : undefined))
  await r.startApp()
  await r.time.idle()
  const acknowledgedBefore = r.sink.records.length
  r.time.advanceTo(T0 + 26 * H)
  await r.time.idle()
  t.ok(r.logs.some((l) => l.includes('leaving the window to plan it again')), 'the acknowledged records were kept when the window was left for the budget')
  const uids = r.sink.records.map(uidOf)
  t.ok(uids.length > acknowledgedBefore, 'the window was read again after the budget allowed it')
  t.equal(uids.length - new Set(uids).size, 0, 'and nothing was sent twice')
})

t.test('a request whose saved time could not be written (a full disk) is not sent, and takes nothing from the budget', async (t) => {
  const r = await rig(t, 'http/protobuf', { PROOFPOINT_REQUEST_BUDGET: '1600', RECEIVER_POLL_INTERVAL: '1m' })
  let fail = 0
  const store = new FileStateStore(r.stateDir)
  const save = store.save.bind(store)
  store.save = async (s) => {
    if (fail > 0) {
      fail--
      throw new StateError('cannot write the state file (ENOSPC)')
    }
    return save(s)
  }
  const app = await r.startApp({ store })
  await r.time.idle()
  fail = 20
  for (let i = 1; i <= 70; i++) {
    r.time.advanceTo(T0 + i * MIN)
    await r.time.idle()
  }
  t.equal(fail, 0, 'the saves failed 20 times')
  const used = metricValue(await app.metrics.render(), `${METRIC_PREFIX}api_requests_last_24h`)
  t.equal(used, r.sim.requests.length, `the budget counts the ${r.sim.requests.length} requests the API saw, not those never sent`)
  t.equal(readState(r.stateDir).apiRequests?.length, r.sim.requests.length, 'and so does the state file')
})
