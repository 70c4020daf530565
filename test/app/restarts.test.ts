/**
 * Restarts over one state directory with changed settings, in process with simulated time (real HTTP to the simulated
 * SIEM API, the real exporter to a real OTLP sink, the real state file).
 */
import t from 'tap'
import { H, MIN, T0, assertExactlyOnce, expectedUids, readState, rig } from '../helpers/e2e-rig.js'

const intervalStart = (q: { query: Record<string, string> } | undefined): string => (q?.query.interval ?? '').split('/')[0] ?? ''

t.test('a first run that committed no window (collector 404) does not pin the start: a longer RECEIVER_START_LOOKBACK applies, its requests stay counted', async (t) => {
  const r = await rig(t, 'http/protobuf')
  r.sink.failNext(1000, 404)
  const app1 = await r.startApp()
  r.time.advanceTo(T0 + 2 * MIN)
  await r.time.idle()
  await app1.shutdown()
  const saved = readState(r.stateDir) as { cursor: string; fresh?: boolean; apiRequests?: number[] }
  t.equal(r.sink.records.length, 0, 'nothing delivered by the first run')
  t.equal(saved.cursor, '2026-11-24T11:01:00.000Z', 'its start, RECEIVER_START_LOOKBACK (1 h) back')
  t.equal(saved.fresh, true, 'saved as a start no window was committed from')
  const firstRun = r.sim.requests.length
  t.ok(firstRun > 0 && saved.apiRequests?.length === firstRun, `its ${firstRun} requests are in the state file`)

  // The collector fixed: the failures still queued go.
  r.sink.clear()
  r.time.jumpTo(T0 + 10 * MIN)
  const before = r.logs.length
  const app2 = await r.startApp({}, { RECEIVER_START_LOOKBACK: '6h' })
  r.time.advanceTo(T0 + 20 * MIN)
  await r.time.idle(60_000)
  t.equal(intervalStart(r.sim.requests[firstRun]), '2026-11-24T06:11:00Z', 'the second run starts 6 h before its own start')
  const started = r.logs.slice(before).find((l) => l.includes('"resumed"')) ?? ''
  t.match(started, /"resumed":false/, 'logged as a fresh start')
  t.match(started, /no window was committed/)
  const cursor = Date.parse(readState(r.stateDir).cursor)
  t.ok(cursor >= T0 + 17 * MIN, `caught up (${new Date(cursor).toISOString()})`)
  t.notOk('fresh' in readState(r.stateDir), 'committed: no longer a fresh start')
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, Date.parse('2026-11-24T06:11:00Z'), cursor), await r.cutOff())
  t.equal(app2.status.snapshot(r.time.clock()).apiRequestsLast24h, r.sim.requests.length, 'the first run\'s requests still count against the budget')

  // A shorter look-back after such a run keeps its earlier start: what the first run never delivered is not skipped.
  const again = await rig(t, 'http/protobuf')
  again.sink.failNext(1000, 404)
  const first = await again.startApp({}, { RECEIVER_START_LOOKBACK: '3h' })
  again.time.advanceTo(T0 + 2 * MIN)
  await again.time.idle()
  await first.shutdown()
  const asked = again.sim.requests.length
  again.sink.clear()
  await again.startApp()
  again.time.advanceTo(T0 + 10 * MIN)
  await again.time.idle(60_000)
  t.equal(intervalStart(again.sim.requests[asked]), '2026-11-24T09:01:00Z', 'a 1 h look-back now: the saved start 3 h back is earlier and kept')
})

t.test('a first run stopped before any answer with the wall clock 2 h ahead: the restart still starts RECEIVER_START_LOOKBACK before the API\'s now', async (t) => {
  const r = await rig(t, 'http/protobuf', {}, 3, { futureEnd: 'reject' })
  r.time.shiftWall(2 * H)
  // The first request hangs: its answer (with the API's Date) never comes before the stop.
  const asked = new Promise<void>((resolve) => {
    r.sim.onRequest(() => {
      resolve()
      return { status: 503, delayMs: 60_000 }
    })
  })
  const app1 = await r.startApp()
  await asked
  await app1.shutdown()
  r.sim.onRequest(undefined)
  const saved = readState(r.stateDir) as { cursor: string; fresh?: boolean }
  t.same(saved, { ...saved, cursor: '2026-11-24T13:01:00.000Z', fresh: true }, 'saved with the request: the start by the clock ahead')
  const before = r.logs.length
  await r.startApp()
  r.time.advanceTo(T0 + 30 * MIN)
  await r.time.idle(60_000)
  const logs = r.logs.slice(before)
  t.ok(logs.some((l) => l.includes('start cursor was set by a clock ahead')), 'moved as a start, by the API\'s clock')
  t.notOk(logs.some((l) => l.includes('the cursor is ahead of the SIEM API')), 'not as a committed cursor (to the API\'s present, skipping the look-back)')
  const cursor = Date.parse(readState(r.stateDir).cursor)
  t.ok(cursor >= T0 + 27 * MIN, `caught up (${new Date(cursor).toISOString()})`)
  assertExactlyOnce(t, r.sink, expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), cursor), await r.cutOff())
})
