/**
 * End to end, in process, with real parts: the simulator as the SIEM API (real HTTP), the real SIEM client,
 * mapper, export pipeline and OTLP exporter, a real OTLP/HTTP sink decoding what was sent, the real state file.
 * Only time is simulated, so hours of polling and catch-up run in seconds.
 */
import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import { eventUid, hrTimeFromIso } from '../../src/mapping/index.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { JsonValue } from '../../src/siem/types.js'
import { API_TEXTS, apiBody, serveInPieces } from '../helpers/api-bytes.js'
import { H, MIN, PRINCIPAL, SECRET, T0, assertExactlyOnce, expectedUids, readState, rig, uidOf } from '../helpers/e2e-rig.js'

/** The default's path on 2 CPUs, whatever this machine has (the rig maps in the main thread unless told). */
const THREADS = { RECEIVER_WORKERS: '2' }

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  t.test(`${protocol}: every event exactly once, typed, and a restart resumes at the cursor`, async (t) => {
    const r = await rig(t, protocol, THREADS)
    const app1 = await r.startApp()
    await r.time.idle()
    const firstCursor = readState(r.stateDir).cursor
    t.equal(firstCursor, '2026-11-24T12:00:00.000Z', 'first window: lookback start … the last whole minute')
    t.equal(r.sim.requests.length, 1, 'the whole first hour in one request')
    t.match(r.sim.requests[0]?.query, { format: 'json', interval: '2026-11-24T11:01:00Z/2026-11-24T12:00:00Z' })

    // An event created exactly on a window boundary: the API returns it for both windows (END is inclusive).
    const sample = Object.values(r.sim.eventsIn({ start: new Date(T0 - H), end: new Date(T0) }).messagesDelivered)[0]
    t.ok(sample)
    r.sim.inject('messagesDelivered', { ...sample, id: 'boundary-event', messageTime: '2026-11-24T12:05:00.000Z' })
    // Polling on for 10 minutes: one 1-minute window per poll interval.
    r.time.advanceTo(T0 + 10 * MIN)
    await r.time.idle()
    t.equal(readState(r.stateDir).cursor, '2026-11-24T12:10:00.000Z')
    t.equal(r.sim.requests.filter((q) => q.events > 0 && /T12:0[45]:00Z\/2026-11-24T12:0[56]:00Z/.test(q.query.interval ?? '')).length, 2)
    t.equal(r.sink.records.filter((x) => x.attributes['proofpoint.id'] === 'boundary-event').length, 1, 'the boundary event once')
    t.equal(app1.status.snapshot(r.time.clock()).totals.duplicates, 1, 'its second copy counted as a duplicate')
    await app1.shutdown()

    // Down for 3 hours, then a new process on the same state directory.
    const requestsBefore = r.sim.requests.length
    r.time.jumpTo(T0 + 3 * H + 10 * MIN)
    const app2 = await r.startApp()
    await r.time.idle()
    const intervals = r.sim.requests.slice(requestsBefore).map((q) => q.query.interval)
    t.same(
      intervals,
      [
        '2026-11-24T12:10:00Z/2026-11-24T13:10:00Z',
        '2026-11-24T13:10:00Z/2026-11-24T14:10:00Z',
        '2026-11-24T14:10:00Z/2026-11-24T15:10:00Z',
      ],
      'resumes exactly at the cursor and catches up in 1-hour windows, oldest first',
    )
    const end = Date.parse(readState(r.stateDir).cursor)
    t.equal(new Date(end).toISOString(), '2026-11-24T15:10:00.000Z')
    const expected = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), end)
    t.ok(expected.size > 400, `a realistic volume (${expected.size} events)`)
    assertExactlyOnce(t, r.sink, expected, await r.cutOff())

    // Content of the records, checked against the events the API served.
    for (const rec of r.sink.records) {
      const known = expected.get(uidOf(rec))
      if (!known) {
        t.fail(`unexpected record ${uidOf(rec)}`)
        break
      }
      const { type, event } = known
      const timeField = type.startsWith('clicks') ? 'clickTime' : 'messageTime'
      const hr = hrTimeFromIso(event[timeField] as string)
      t.equal(rec.timeUnixNano, hr ? BigInt(hr[0]) * 1_000_000_000n + BigInt(hr[1]) : undefined, 'timestamp to the nanosecond')
      t.equal(rec.attributes['proofpoint.event_type'], type)
      t.equal(rec.body, JSON.stringify(event), 'the original event is the body (the simulator serves JSON.stringify text)')
      if (!t.passing()) break
    }
    const message = r.sink.records.find((x) => x.attributes['proofpoint.event_type'] === 'messagesDelivered')
    t.ok(message)
    t.match(message?.attributeKinds, {
      'proofpoint.spamScore': 'int',
      'proofpoint.messageSize': 'int',
      'proofpoint.completelyRewritten': 'bool',
      'proofpoint.toAddresses': 'array',
      'proofpoint.threatsInfoMap.threatStatus': 'array',
      'proofpoint.subject': 'string',
    })
    t.equal(message?.eventName, 'proofpoint.message.delivered')
    t.match(message?.resource, { 'service.name': 'e2e-receiver', 'deployment.environment': 'test', 'service.version': String })
    t.match(message?.scope, { name: 'proofpoint-siem-receiver' })
    t.ok(
      r.sink.requests.every((q) => q.contentLength !== undefined && q.transferEncoding === undefined),
      'every request has Content-Length and is not chunked (Fluent Bit)',
    )

    const status = app2.status.snapshot(r.time.clock())
    t.equal(status.cursor, '2026-11-24T15:10:00.000Z')
    t.equal(status.lastExport?.outcome, 'ok')
    t.equal(r.logs.filter((l) => l.includes(SECRET)).length, 0, 'the secret is in no log line')
    t.ok(r.logs.some((l) => l.includes('"window done"')), 'one log line per window')
  })
}

t.test('the collector answering 503 holds the cursor; nothing is lost once it recovers', async (t) => {
  // The export call gives up on the 503s (retried inside it) after OTEL_EXPORTER_OTLP_TIMEOUT.
  const r = await rig(t, 'http/protobuf', { ...THREADS, OTEL_EXPORTER_OTLP_TIMEOUT: '1500' })
  const app = await r.startApp()
  await r.time.idle()
  const before = readState(r.stateDir)
  const received = r.sink.records.length

  r.sink.failNext(1_000, 503)
  r.time.advanceTo(T0 + 5 * MIN)
  // Wait (real time) until the receiver has seen the failure and is backing off: it will, so the bound is only a guard.
  for (let i = 0; i < 6000 && app.status.snapshot(r.time.clock()).lastExport?.outcome !== 'error'; i++) await new Promise((res) => setTimeout(res, 10))
  t.equal(app.status.snapshot(r.time.clock()).lastExport?.outcome, 'error', 'the failure is visible in /status')
  t.equal(readState(r.stateDir).cursor, before.cursor, 'the cursor did not move past unacknowledged events')
  const ready = app.status.readiness(r.time.clock())
  t.equal(ready.ready, false, 'not ready while the collector fails')

  // The collector comes back.
  r.sink.clear()
  r.time.advanceTo(T0 + 2 * H)
  await r.time.idle()
  t.equal(app.status.snapshot(r.time.clock()).lastExport?.outcome, 'ok')
  const end = Date.parse(readState(r.stateDir).cursor)
  t.ok(end > Date.parse(before.cursor), 'the cursor moves again')
  const expected = expectedUids(r.sim, Date.parse(before.cursor), end)
  // Records of the first window arrived before the outage; the rest after it. Together: each once.
  const firstWindow = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(before.cursor))
  t.equal(received, firstWindow.size)
  const boundaryDuplicates = [...expected.keys()].filter((k) => firstWindow.has(k))
  for (const k of boundaryDuplicates) expected.delete(k)
  assertExactlyOnce(t, r.sink, expected, await r.cutOff())
  t.ok(r.logs.some((l) => l.includes('export failed; retrying')), 'the retries are logged')
})

t.test('SIEM API failures are retried with backoff and shown; the window is not skipped', async (t) => {
  const r = await rig(t, 'http/protobuf', THREADS)
  r.sim.failNext(1, { status: 401, body: 'Unauthorized' })
  r.sim.failNext(2, { status: 503 })
  const app = await r.startApp()
  await r.time.idle()
  let status = app.status.snapshot(r.time.clock())
  t.match(status.lastPoll, { outcome: 'error', httpStatus: 401 }, 'the auth failure is in /status')
  const readiness = app.status.readiness(r.time.clock())
  t.equal(readiness.ready, false)
  t.match(readiness.reasons.join('\n'), /credential|auth/i)
  t.ok(r.logs.some((l) => l.includes('PSR_ERR_SIEM_AUTH') && l.includes(PRINCIPAL)), 'the log names the principal')
  t.equal(r.sink.records.length, 0)

  r.time.advanceTo(T0 + 30 * MIN)
  await r.time.idle()
  status = app.status.snapshot(r.time.clock())
  t.equal(status.lastPoll?.outcome, 'ok')
  t.equal(app.status.readiness(r.time.clock()).ready, true, 'ready again once the API answers')
  const statuses = r.sim.requests.map((q) => q.status)
  t.same(statuses.slice(0, 4), [401, 503, 503, 200], 'the same window asked again after each failure')
  t.equal(new Set(r.sim.requests.slice(0, 4).map((q) => q.query.interval)).size, 1)
  const expected = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(readState(r.stateDir).cursor))
  assertExactlyOnce(t, r.sink, expected, await r.cutOff())
  t.equal(r.logs.filter((l) => l.includes(SECRET)).length, 0, 'the secret is in no log line')
})

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  t.test(`${protocol}: the body the collector receives is the API's own bytes (0.0, 1e3, escapes, key order, white space)`, async (t) => {
    // A hand-written answer (not JSON.stringify output), served in pieces cut inside events.
    const body = apiBody()
    const cuts = [body.indexOf(':0.0,') + 3, body.indexOf('\\ud83d') + 3, body.indexOf('Ärger') + 1, body.indexOf('"10"') + 1].sort((x, y) => x - y)
    const r = await rig(t, protocol, { ...THREADS, PROOFPOINT_BASE_URL: await serveInPieces(t, body, cuts) })
    const sent = new Map(EVENT_TYPES.flatMap((type) => API_TEXTS[type].map((text) => [eventUid(JSON.parse(text) as JsonValue, type), text] as const)))
    await r.startApp()
    for (let i = 0; i < 2000 && r.sink.records.length < sent.size; i++) await delay(10)
    await r.time.idle()
    t.equal(r.sink.records.length, sent.size, 'every event once')
    for (const rec of r.sink.records) t.equal(rec.body, sent.get(uidOf(rec)), `${String(rec.attributes['proofpoint.GUID'])}: byte-equal to what the API sent`)
    const esc = r.sink.records.find((x) => x.attributes['proofpoint.GUID'] === 'g-esc')
    t.match(esc?.body, /"impostorScore":0\.0,"spamScore":1e3,"phishScore":-0,/)
  })
}
