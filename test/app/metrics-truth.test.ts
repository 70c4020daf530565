/**
 * Do /metrics and /status tell the truth? End to end in simulated time (real HTTP to the simulated SIEM API, the real
 * exporter to a real OTLP sink, the real state file), each number against what the sink and the simulator saw, in the
 * scenarios where they used to drift: a window left before its commit, records read again by the sweeps.
 */
import t from 'tap'
import type { Test } from 'tap'
import { loadConfig, mappingOptions } from '../../src/config/index.js'
import { StateError } from '../../src/errors.js'
import { mapEvent } from '../../src/mapping/index.js'
import { METRIC_PREFIX } from '../../src/ops/metrics.js'
import type { EventType, JsonObject } from '../../src/siem/types.js'
import { FileStateStore } from '../../src/state/index.js'
import type { StateStore } from '../../src/state/index.js'
import { H, MIN, T0, expectedUids, metricTotal, readState, rig, uidOf } from '../helpers/e2e-rig.js'
import type { Rig } from '../helpers/e2e-rig.js'

const P = METRIC_PREFIX

/** Simulated time a minute at a time to `until`, the receiver working at each step. */
async function runTo(r: Rig, until: number): Promise<void> {
  for (let now = r.time.monotonic(); now < until; ) {
    now = Math.min(until, Math.floor(now / MIN) * MIN + MIN + 30_000)
    r.time.advanceTo(now)
    await r.time.idle()
  }
}

/** received = exported + rejected + duplicates, per scrape: every event read is one of them once answered. */
function assertBalanced(t: Test, m: string, what: string): void {
  const events = (k: string): number => metricTotal(m, `${P}events_${k}_total`)
  const [received, exported, rejected, duplicates] = [events('received'), events('exported'), events('rejected'), events('duplicates')]
  t.equal(received, exported + rejected + duplicates, `${what}: received ${received} = exported ${exported} + rejected ${rejected} + duplicates ${duplicates}`)
}

t.test('a window the request budget cuts off mid-way: what the collector acknowledged is counted as exported', async (t) => {
  const r = await rig(t, 'http/protobuf', {
    PROOFPOINT_REQUEST_BUDGET: '5',
    RECEIVER_POLL_INTERVAL: '6h',
    RECEIVER_START_LOOKBACK: '6h',
    RECEIVER_EXPORT_BATCH_SIZE: '10',
    RECEIVER_EXPORT_CONCURRENCY: '1',
  })
  // The fifth window's body is cut after part of its records were exported; its retry finds the budget used up.
  r.sim.onRequest((q) => (r.sim.requests.indexOf(q) === 4 ? { status: 200, cutAfterBytes: 200_000 } : undefined))
  const app = await r.startApp()
  await r.time.idle()
  r.time.advanceTo(T0 + 26 * H)
  await r.time.idle(60_000)
  t.ok(r.sim.requests.some((q) => q.fault !== undefined), 'the cut happened')
  const m = await app.metrics.render()
  t.equal(metricTotal(m, `${P}events_exported_total`), r.sink.records.length, 'every record the sink took is counted as exported')
  t.equal(metricTotal(m, `${P}export_requests_total{outcome="ok"}`), r.sink.requests.filter((q) => q.status === 200).length, 'every request it took')
  assertBalanced(t, m, 'after the budget wait')
})

t.test('stopped between a sweep\'s export and its commit: its late event is counted, once, by the process that exported it', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_OVERLAP: '30m' })
  // The state write fails from the moment the sweep's late record was acknowledged, until the stop: the commit is
  // retried, the stop ends it, and the acknowledged key is saved on the way out (the write works again then).
  const file = new FileStateStore(r.stateDir)
  let failing = false
  const store: StateStore = { load: () => file.load(), save: (state) => (failing ? Promise.reject(new StateError('disk full')) : file.save(state)) }
  const late = { id: 'late-5', createdAt: T0 + 2 * MIN + 17_000 }
  const app1 = await r.startApp({
    store,
    onExported: (records) => {
      if (records.some((x) => x.attributes['proofpoint.id'] === late.id)) failing = true
    },
  })
  await r.time.idle()
  // Created at 12:02:47, visible 5 minutes later: only the 10-minute sweep can find it.
  const base = r.sim.eventsIn({ start: new Date(T0 - H), end: new Date(T0) }).messagesDelivered[0] as JsonObject
  for (let now = T0 + MIN, injected = false; !failing && now < T0 + 40 * MIN; now += MIN) {
    if (!injected && now >= late.createdAt + 5 * MIN) {
      r.sim.inject('messagesDelivered', { ...base, id: late.id, recipient: ['late@corp.example'], messageTime: new Date(late.createdAt).toISOString() }, late.createdAt)
      injected = true
    }
    r.time.advanceTo(now)
    await r.time.idle()
  }
  t.ok(failing, 'the sweep exported the late event; its commit fails')
  failing = false
  await app1.shutdown()
  const m1 = await app1.metrics.render()
  t.equal(metricTotal(m1, `${P}late_events_total`), 1, 'counted as a late event by the process that exported it')
  t.equal(metricTotal(m1, `${P}events_exported_total`), r.sink.records.length, 'and as exported')
  assertBalanced(t, m1, 'process 1')

  const app2 = await r.startApp()
  await runTo(r, T0 + 90 * MIN)
  const m2 = await app2.metrics.render()
  t.equal(r.sink.records.filter((x) => x.attributes['proofpoint.id'] === late.id).length, 1, 'the late event arrived once')
  t.equal(metricTotal(m2, `${P}late_events_total`), 0, 'not found again by the restarted sweep: it was saved as exported')
  t.equal(metricTotal(m1, `${P}events_exported_total`) + metricTotal(m2, `${P}events_exported_total`), r.sink.records.length, 'both processes together counted what the sink took')
  assertBalanced(t, m2, 'process 2')
  t.ok(Date.parse(readState(r.stateDir).cursor) >= T0 + 85 * MIN)
})

for (const workers of ['0', '2']) {
  t.test(`attribute values cut: counted in the records the collector took, not in the copies the sweeps read again (workers ${workers})`, async (t) => {
    const env = { OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: '64', RECEIVER_OVERLAP: '30m', RECEIVER_WORKERS: workers }
    const r = await rig(t, 'http/protobuf', env)
    const app = await r.startApp()
    await r.time.idle()
    await runTo(r, T0 + H)
    const m = await app.metrics.render()
    const { config } = loadConfig({ env: { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET: 's', ...env } })
    const events = expectedUids(r.sim, T0 - 2 * H, T0 + H)
    let cuts = 0
    for (const uid of new Set(r.sink.records.map(uidOf))) {
      const { type, event } = events.get(uid)!
      cuts += mapEvent(event, type as EventType, mappingOptions(config), [0, 0]).truncated ?? 0
    }
    t.ok(metricTotal(m, `${P}events_duplicates_total`) > 0, 'the sweeps read records again')
    t.ok(cuts > 0, `the limit cuts values (${cuts} in what the sink got)`)
    t.equal(metricTotal(m, `${P}attribute_values_truncated_total`), cuts, 'the counter says how many values the delivered records have cut')
  })
}

t.test('a 200 whose body is cut or not JSON: counted under status_code 200, /status shows the status, and it is progress', async (t) => {
  const r = await rig(t, 'http/protobuf', { PROOFPOINT_REQUEST_TIMEOUT: '2s' })
  const app = await r.startApp()
  await r.time.idle()
  const faults = [{ status: 200, cutAfterBytes: 100 }, { status: 200, body: 'not json at all' }, { status: 200, reset: true }]
  const seen: Array<{ code?: string; httpStatus: number | null; progress: boolean }> = []
  let step = 0
  for (const fault of faults) {
    r.sim.failNext(1, fault)
    // The next poll fails (its backoff ends after this step); the one after that succeeds.
    for (const look of [true, false]) {
      r.time.advanceTo(T0 + ++step * MIN)
      await r.time.idle(60_000)
      const { lastPoll, lastHeartbeatAt } = app.status.snapshot(r.time.clock())
      if (look) seen.push({ ...(lastPoll?.error ? { code: lastPoll.error.code } : {}), httpStatus: lastPoll?.httpStatus ?? null, progress: lastHeartbeatAt === lastPoll?.at })
    }
  }
  t.same(r.sim.requests.filter((q) => q.fault !== undefined).map((q) => q.fault), ['cut', 'reply', 'reset'], 'the three faults')
  t.match(seen, [
    { code: /PSR_ERR_SIEM_(TIMEOUT|NETWORK)/, httpStatus: 200, progress: true },
    { code: 'PSR_ERR_SIEM_BAD_RESPONSE', httpStatus: 200, progress: true },
    { code: 'PSR_ERR_SIEM_NETWORK', httpStatus: null, progress: false },
  ], '/status lastPoll: the answer\'s status, and an answer (not the reset) counted as progress: the API failed, not the loop')
  const m = await app.metrics.render()
  t.equal(metricTotal(m, `${P}api_requests_total{outcome="error",status_code="200"}`), 2, 'the cut body and the body that is not JSON')
  t.equal(metricTotal(m, `${P}api_requests_total{outcome="error",status_code="none"}`), 1, 'the connection reset before the headers: no answer')
})

/** How the sink's statuses read as export_requests_total outcomes. */
const OUTCOME_OF: Record<number, string> = { 200: 'ok', 400: 'rejected', 413: 'too_large', 401: 'error', 503: 'error' }

const exportScenarios: Array<{ name: string; env?: Record<string, string>; perMinute?: number; arrange: (r: Rig) => void }> = [
  {
    name: 'one record the collector refuses: the refused requests halved to find it',
    env: { RECEIVER_EXPORT_BATCH_SIZE: '16' },
    arrange: (r) => {
      let poison: string | undefined
      r.sink.refuseRecords((rec) => uidOf(rec) === (poison ??= uidOf(rec)))
    },
  },
  { name: 'a 413: the request split in halves', arrange: (r) => r.sink.failNext(1, 413) },
  {
    name: 'a call whose first request is acknowledged and whose second fails (a 401: not retried by the exporter)',
    // 1000 records of ~2 KB: two requests under 3 MiB.
    env: { RECEIVER_EXPORT_BATCH_SIZE: '1000', RECEIVER_EXPORT_CONCURRENCY: '1' },
    perMinute: 30,
    arrange: (r) => {
      r.sink.acceptNext(1)
      r.sink.failNext(1, 401)
    },
  },
  { name: "a 503 the exporter retries by itself: its own retry is a request too", arrange: (r) => r.sink.failNext(1, 503) },
]

for (const { name, env = {}, perMinute = 3, arrange } of exportScenarios) {
  t.test(`export_requests_total and export_bytes_total add up to what the collector saw: ${name}`, async (t) => {
    const r = await rig(t, 'http/protobuf', env, perMinute)
    arrange(r)
    const app = await r.startApp()
    await r.time.idle(60_000)
    await runTo(r, T0 + 2 * MIN)
    const m = await app.metrics.render()
    const seen = new Map<string, number>()
    for (const q of r.sink.requests) seen.set(OUTCOME_OF[q.status] ?? String(q.status), (seen.get(OUTCOME_OF[q.status] ?? String(q.status)) ?? 0) + 1)
    t.ok(seen.size > 1, `the collector answered more than ok: ${JSON.stringify([...seen])}`)
    for (const outcome of ['ok', 'rejected', 'too_large', 'error']) {
      t.equal(metricTotal(m, `${P}export_requests_total{outcome="${outcome}"}`), seen.get(outcome) ?? 0, `${outcome}: as many requests as the sink answered so`)
    }
    const acknowledged = r.sink.requests.filter((q) => q.status === 200).reduce((n, q) => n + q.wireBytes, 0)
    t.equal(metricTotal(m, `${P}export_bytes_total`), acknowledged, 'the bytes of every acknowledged request')
  })
}
