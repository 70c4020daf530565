/**
 * RECEIVER_WORKERS end to end (real simulator, real pipeline, real OTLP sink, real threads): the same records as the
 * main thread makes, a thread dying in the middle of a window loses nothing and sends nothing twice, and an event that
 * is not JSON fails the window as the API's fault.
 */
import t from 'tap'
import type { SinkRecord } from '../helpers/otlp-sink.js'
import { apiBody, API_TEXTS } from '../helpers/api-bytes.js'
import { serveInPieces } from '../helpers/api-bytes.js'
import { MIN, T0, assertExactlyOnce, expectedUids, readState, rig } from '../helpers/e2e-rig.js'

const DYING = new URL('../workers/dying-worker.js', import.meta.url)

/** A record as the sink decoded it, without what differs between two receivers (service.instance.id, request numbers). */
const comparable = (r: SinkRecord): string => JSON.stringify({ ...r, resource: undefined, request: undefined }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))

t.test('2 threads, the main thread, and records mapped as parts (what the demo prints) send the same records', async (t) => {
  const runs: Array<{ records: SinkRecord[]; logs: string[] }> = []
  for (const [workers, parts] of [['0', false], ['2', false], ['0', true]] as const) {
    const r = await rig(t, 'http/protobuf', { RECEIVER_WORKERS: workers, RECEIVER_EXPORT_BATCH_SIZE: '50' }, 20)
    // Someone reading the records (the demo's printer) makes the receiver map them as parts, encoded at export.
    await r.startApp(parts ? { onExported: () => undefined } : {})
    await r.time.idle()
    t.equal(readState(r.stateDir).cursor, '2026-11-24T12:00:00.000Z', `${workers} threads${parts ? ', as parts' : ''}: the first window committed`)
    runs.push({ records: [...r.sink.records], logs: r.logs })
  }
  const [main, threads, parts] = runs as [(typeof runs)[0], (typeof runs)[0], (typeof runs)[0]]
  t.ok(main.records.length > 1000, `${main.records.length} records`)
  t.same(threads.records.map(comparable).sort(), main.records.map(comparable).sort(), 'threads: the same records')
  t.same(parts.records.map(comparable).sort(), main.records.map(comparable).sort(), 'parts encoded at export: the same records')
  t.ok(threads.logs.some((l) => l.includes('"workers":2') && l.includes('worker threads')), 'the log says where events are mapped')
  t.ok(main.logs.some((l) => l.includes('"workers":0') && l.includes('main thread')))
})

t.test('/status before any event: threads configured, none started (an idle receiver starts none)', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_WORKERS: '3' }, 0)
  const app = await r.startApp()
  await r.time.idle()
  t.same(app.status.snapshot(r.time.clock()).workers, { threads: 3, running: 0, restarts: 0 })

})

t.test('a thread dies mid-window: PSR_ERR_WORKER, the window read again, every event once, the acknowledged ones not resent', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_WORKERS: '2', RECEIVER_EXPORT_BATCH_SIZE: '40' }, 20)
  // Batch 6 of the first attempt: several batches before it were exported and acknowledged.
  const app = await r.startApp({ workerEntry: { url: DYING, data: { dieAt: [6], throwAt: [] } } })
  await r.time.idle()
  t.equal(readState(r.stateDir).cursor, '2026-11-24T11:01:00.000Z', 'the window failed: the cursor stays')
  t.ok(r.logs.some((l) => l.includes('PSR_ERR_WORKER') && l.includes('exited with code 7')), 'the failure is logged with its code')
  const before = r.sink.records.length
  t.ok(before >= 40, `${before} records of the failed attempt were acknowledged already`)
  // The backoff (at most a minute here) passes; the next poll would be due too.
  r.time.advanceTo(T0 + MIN)
  await r.time.idle()
  t.equal(r.sim.requests.filter((q) => q.query.interval === '2026-11-24T11:01:00Z/2026-11-24T12:00:00Z').length, 2, 'the window asked again')
  const cursor = Date.parse(readState(r.stateDir).cursor)
  t.ok(cursor >= Date.parse('2026-11-24T12:00:00Z'), 'and committed')
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), cursor), await r.cutOff())
  t.equal(app.status.snapshot(r.time.clock()).totals.exported, r.sink.records.length, 'every record counted once')
  t.same(app.status.snapshot(r.time.clock()).workers, { threads: 2, running: 2, restarts: 1 }, '/status: the thread that died, and its replacement')
  const metrics = await app.metrics.render()
  t.match(metrics, /^proofpoint_receiver_worker_restarts_total 1$/m)
  // Answers are reported once the threads parsed them: both requests of the window were answered.
  t.equal(app.status.snapshot(r.time.clock()).lastPoll?.outcome, 'ok', '/status: the last SIEM API call answered')
  const answered = r.sim.requests.filter((q) => q.status === 200).length
  t.match(metrics, new RegExp(`^proofpoint_receiver_api_requests_total\\{outcome="ok",status_code="200"\\} ${answered}$`, 'm'), `all ${answered} requests counted as answered, the one the dying thread left unfinished too`)
  t.match(metrics, /^proofpoint_receiver_worker_threads 2$/m)
})

t.test('an event that is not JSON, found by a thread: the window fails as a bad API answer and the cursor stays', async (t) => {
  const texts = { ...API_TEXTS, messagesDelivered: [API_TEXTS.messagesDelivered[0]!, '{"GUID":"broken",}'] }
  const body = apiBody(texts)
  const r = await rig(t, 'http/protobuf', { RECEIVER_WORKERS: '1', PROOFPOINT_BASE_URL: await serveInPieces(t, body, [body.length >> 1]) })
  const app = await r.startApp()
  for (let i = 0; i < 400 && !r.logs.some((l) => l.includes('PSR_ERR_SIEM_BAD_RESPONSE')); i++) await new Promise((res) => setTimeout(res, 10))
  const line = r.logs.find((l) => l.includes('PSR_ERR_SIEM_BAD_RESPONSE')) ?? ''
  t.match(line, /malformed JSON in messagesDelivered\[1\]/, 'named by its array and index')
  t.equal(app.status.snapshot(r.time.clock()).cursor, '2026-11-24T11:01:00.000Z', 'the cursor stays at the window start')
  t.equal(r.sink.records.length, 0, 'nothing of the broken answer exported')
  // As when the main thread parses: the request failed, in /status and /metrics, not answered.
  const lastPoll = app.status.snapshot(r.time.clock()).lastPoll
  t.equal(lastPoll?.outcome, 'error', '/status: the last SIEM API call failed')
  t.equal(lastPoll?.error?.code, 'PSR_ERR_SIEM_BAD_RESPONSE')
  const metrics = await app.metrics.render()
  t.match(metrics, /^proofpoint_receiver_api_requests_total\{outcome="error",status_code="200"\} 1$/m, 'counted as a failed request, to which the API answered 200')
  t.equal(lastPoll?.httpStatus, 200, '/status: the status the API answered with')
  t.notMatch(metrics, /^proofpoint_receiver_api_requests_total\{outcome="ok"/m, 'and never as an answered one')
})


for (const mode of ['throw', 'die'] as const) {
  t.test(`threads that fail on a window every time (${mode}): /readyz and /status say so, then the main thread maps it; every event once`, async (t) => {
    const r = await rig(t, 'http/protobuf', { RECEIVER_WORKERS: '1', RECEIVER_EXPORT_BATCH_SIZE: '40' }, 20)
    const every = Array.from({ length: 2000 }, (_, i) => i)
    const app = await r.startApp({ workerEntry: { url: DYING, data: mode === 'throw' ? { dieAt: [], throwAt: every } : { dieAt: every, throwAt: [] } } })
    await r.time.idle()
    t.equal(readState(r.stateDir).cursor, '2026-11-24T11:01:00.000Z', 'the first attempt failed: the cursor stays')
    const failing = app.status.snapshot(r.time.clock())
    t.match(failing.windowFailure, { attempts: 1, error: { code: 'PSR_ERR_WORKER' } }, '/status: the window is failing, and why')
    t.not(failing.lastPoll?.outcome, 'error', 'not the SIEM API failing')
    const readiness = app.status.readiness(r.time.clock())
    t.equal(readiness.ready, false, '/readyz fails: the receiver is not delivering')
    t.ok(readiness.reasons.some((reason) => /^the window in hand failed 1 time in a row \(PSR_ERR_WORKER\): a worker thread/.test(reason)), 'and says why')
    // The backoffs pass (before the next poll is due): a second attempt in the threads fails too, the third maps in
    // the main thread.
    r.time.advanceTo(T0 + 30_000)
    await r.time.idle()
    t.equal(r.sim.requests.filter((q) => q.query.interval === '2026-11-24T11:01:00Z/2026-11-24T12:00:00Z').length, 3, 'two attempts in the threads, one in the main thread')
    t.ok(r.logs.some((l) => l.includes('mapping it in the main thread') && l.includes('"failures":2')), 'the switch is logged')
    const cursor = Date.parse(readState(r.stateDir).cursor)
    t.ok(cursor >= Date.parse('2026-11-24T12:00:00Z'), 'the window committed')
    assertExactlyOnce(t, r.sink, expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), cursor), await r.cutOff())
    t.equal(app.status.snapshot(r.time.clock()).windowFailure, null, 'cleared by the attempt that succeeded')
  })
}
