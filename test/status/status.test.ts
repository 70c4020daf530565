import t from 'tap'
import { RECEIVER_PHASES, ReceiverStatus } from '../../src/status/index.js'
import { RequestBudget } from '../../src/state/index.js'

const T0 = Date.parse('2024-05-01T00:00:00.000Z')
const MIN = 60_000
const HOUR = 60 * MIN

function make(over: Partial<ConstructorParameters<typeof ReceiverStatus>[0]> = {}): ReceiverStatus {
  return new ReceiverStatus({
    startedAt: T0,
    noEventsAlertAfterMs: 24 * HOUR,
    pollIntervalMs: MIN,
    eventTypes: ['messagesDelivered', 'clicksPermitted'],
    version: '1.2.3',
    ...over,
  })
}

void t.test('a fresh status', (t) => {
  const s = make()
  const snap = s.snapshot(T0 + 90_500)
  t.equal(snap.version, '1.2.3')
  t.equal(snap.state, 'starting')
  t.equal(snap.startedAt, '2024-05-01T00:00:00.000Z')
  t.equal(snap.uptimeSeconds, 90)
  t.equal(snap.cursor, null)
  t.equal(snap.lagSeconds, null)
  t.equal(snap.lastPoll, null)
  t.equal(snap.lastExport, null)
  t.equal(snap.apiRequestsLast24h, 0)
  t.same(snap.totals, {
    received: 0,
    exported: 0,
    malformed: 0,
    duplicates: 0,
    rejected: 0,
    truncated: 0,
    droppedAttributes: 0,
    exportSplits: 0,
    byType: {
      messagesDelivered: { received: 0, exported: 0, malformed: 0, duplicates: 0, rejected: 0, truncated: 0 },
      clicksPermitted: { received: 0, exported: 0, malformed: 0, duplicates: 0, rejected: 0, truncated: 0 },
    },
  })
  t.same(snap.noEvents, { alerting: false, thresholdSeconds: 86400, lastEventAt: null, silentSeconds: 90 })
  t.same(JSON.parse(JSON.stringify(snap)), snap, 'plain JSON')
  t.ok(RECEIVER_PHASES.includes(snap.state))
  t.end()
})

void t.test('no-events alert counts from process start when there was never an event', (t) => {
  const s = make()
  t.equal(s.snapshot(T0 + 24 * HOUR - 1).noEvents.alerting, false)
  t.equal(s.snapshot(T0 + 24 * HOUR).noEvents.alerting, true, 'at the threshold')
  t.equal(s.snapshot(T0 + 30 * HOUR).noEvents.silentSeconds, 30 * 3600)
  t.end()
})

void t.test('no-events alert counts from the last event, even one from before the restart', (t) => {
  const s = make({ noEventsAlertAfterMs: 2 * HOUR })
  s.setLastEventAt(new Date(T0 - HOUR).toISOString())
  t.equal(s.snapshot(T0 + HOUR - 1).noEvents.alerting, false)
  t.equal(s.snapshot(T0 + HOUR).noEvents.alerting, true, 'two hours after the last event, one after start')
  t.equal(s.snapshot(T0 + HOUR).noEvents.lastEventAt, '2024-04-30T23:00:00.000Z')
  s.setLastEventAt(new Date(T0 + 3 * HOUR).toISOString())
  t.equal(s.snapshot(T0 + 4 * HOUR).noEvents.alerting, false, 'a new event clears it')
  t.equal(s.snapshot(T0 + 5 * HOUR).noEvents.alerting, true)
  t.equal(s.snapshot(T0 + 5 * HOUR).noEvents.thresholdSeconds, 7200)
  t.end()
})

void t.test('lag is now − cursor in whole seconds', (t) => {
  const s = make()
  s.setCursor('2024-05-01T00:00:00Z')
  t.equal(s.snapshot(T0 + 125_900).lagSeconds, 125)
  t.equal(s.snapshot(T0 + 125_900).cursor, '2024-05-01T00:00:00Z')
  t.equal(s.snapshot(T0 - 5000).lagSeconds, 0, 'a cursor ahead of the clock is no negative lag')
  let api = T0 + 60_000
  const byApi = make({ apiNow: () => api })
  byApi.setCursor('2024-05-01T00:00:00Z')
  t.equal(byApi.snapshot(T0 + 25 * HOUR).lagSeconds, 60, 'with the API\'s clock: the cursor is its time, a wall clock 25 h ahead adds no lag')
  api += 3 * HOUR
  t.equal(byApi.snapshot(T0).lagSeconds, 3 * 3600 + 60, 'nor does one stepped back hide it')
  t.end()
})

void t.test('with a monotonic clock, the no-events silence ignores wall clock steps (in /status, /readyz and the alert)', (t) => {
  let mono = 500
  const s = make({ monotonic: () => mono, startedMono: mono, noEventsFailsReadiness: true })
  mono += HOUR
  t.equal(s.snapshot(T0 + 30 * HOUR).noEvents.alerting, false, 'one hour silent, though the wall clock says 30')
  t.equal(s.snapshot(T0 + 30 * HOUR).noEvents.silentSeconds, 3600)
  t.notOk(s.readiness(T0 + 30 * HOUR).reasons.some((r) => /no events/.test(r)), 'ready as far as the alert goes')
  mono += 24 * HOUR
  t.match(s.readiness(T0).reasons, [/no events exported for 90000 s/], 'silent 25 h by the monotonic clock, though the wall clock went back')
  t.end()
})

void t.test('polls, exports and counts', (t) => {
  const s = make()
  s.recordPoll({ at: T0 + 1000, outcome: 'ok', httpStatus: 200, events: 7 })
  s.recordExport({ at: T0 + 2000, outcome: 'ok', records: 6, droppedAttributes: 12, splits: 1 })
  s.count('messagesDelivered', { received: 5, exported: 4, duplicates: 1, rejected: 0, truncated: 0 })
  s.count('clicksPermitted', { received: 2, exported: 2, malformed: 1 })
  s.count('messagesBlocked', { received: 1 })
  s.count('messagesDelivered', { received: 1 })
  let snap = s.snapshot(T0 + 3000)
  t.same(snap.lastPoll, { at: '2024-05-01T00:00:01.000Z', outcome: 'ok', httpStatus: 200, events: 7 })
  t.same(snap.lastExport, { at: '2024-05-01T00:00:02.000Z', outcome: 'ok', records: 6 })
  t.equal(snap.lastSuccessfulPollAt, '2024-05-01T00:00:01.000Z')
  t.same(snap.totals.byType.messagesDelivered, { received: 6, exported: 4, malformed: 0, duplicates: 1, rejected: 0, truncated: 0 })
  t.same(snap.totals.byType.clicksPermitted, { received: 2, exported: 2, malformed: 1, duplicates: 0, rejected: 0, truncated: 0 })
  t.same(snap.totals.byType.messagesBlocked, { received: 1, exported: 0, malformed: 0, duplicates: 0, rejected: 0, truncated: 0 }, 'an unconfigured type still counts')
  t.equal(snap.totals.byType.clicksBlocked, undefined)
  t.equal(snap.totals.received, 9)
  t.equal(snap.totals.exported, 6)
  t.equal(snap.totals.malformed, 1)
  t.equal(snap.totals.duplicates, 1)
  t.equal(snap.totals.droppedAttributes, 12, 'attributes dropped over the count limit, from the export report')
  t.equal(snap.totals.exportSplits, 1, 'requests split after a 413, from the export report')
  t.same(snap.lastExport, { at: '2024-05-01T00:00:02.000Z', outcome: 'ok', records: 6 }, 'the counts are totals, not part of lastExport')

  s.recordPoll({ at: T0 + 4000, outcome: 'error', error: { code: 'PSR_ERR_SIEM_NETWORK', message: 'connection refused' }, events: 0 })
  s.recordExport({ at: T0 + 5000, outcome: 'error', records: 3, error: { code: 'PSR_ERR_EXPORT_FAILED', message: '503', retryable: true } })
  snap = s.snapshot(T0 + 6000)
  t.same(snap.lastPoll, {
    at: '2024-05-01T00:00:04.000Z',
    outcome: 'error',
    httpStatus: null,
    events: 0,
    error: { code: 'PSR_ERR_SIEM_NETWORK', message: 'connection refused' },
  })
  t.same(snap.lastExport?.error, { code: 'PSR_ERR_EXPORT_FAILED', message: '503', retryable: true })
  t.equal(snap.lastSuccessfulPollAt, '2024-05-01T00:00:01.000Z')
  t.end()
})

void t.test('readiness', (t) => {
  const s = make()
  t.same(s.readiness(T0), { ready: false, reasons: ['no successful SIEM API call yet'] })

  s.recordPoll({ at: T0, outcome: 'error', httpStatus: 401, events: 0, error: { code: 'PSR_ERR_SIEM_AUTH', message: 'refused' } })
  s.setAuthFailing(true)
  let r = s.readiness(T0)
  t.equal(r.ready, false)
  t.equal(r.reasons.length, 3)
  t.match(r.reasons, [/credentials/, /no successful SIEM API call yet/, /last SIEM API call failed \(PSR_ERR_SIEM_AUTH\): refused/])

  s.setAuthFailing(false)
  s.recordPoll({ at: T0 + 1, outcome: 'ok', httpStatus: 200, events: 0 })
  t.same(s.readiness(T0 + 2), { ready: true, reasons: [] })

  s.recordExport({ at: T0 + 3, outcome: 'error', records: 1, error: { code: 'PSR_ERR_EXPORT_FAILED', message: 'collector down', retryable: true } })
  r = s.readiness(T0 + 4)
  t.equal(r.ready, false)
  t.match(r.reasons, [/last export .* failed \(PSR_ERR_EXPORT_FAILED\): collector down/])
  s.recordExport({ at: T0 + 5, outcome: 'ok', records: 1 })
  t.equal(s.readiness(T0 + 6).ready, true)

  s.setStateDirOk(false, 'ENOSPC')
  t.same(s.readiness(T0 + 7).reasons, ['the state directory (RECEIVER_STATE_DIR) is not usable: ENOSPC'])
  t.equal(s.snapshot(T0 + 7).stateDir.reason, 'ENOSPC')
  s.setStateDirOk(true)
  t.equal(s.readiness(T0 + 8).ready, true)
  t.same(s.snapshot(T0 + 8).stateDir, { ok: true, reason: null })

  s.setPhase('stopping')
  t.same(s.readiness(T0 + 9).reasons, ['the receiver is shutting down'])
  // A stop that came during the start: the poll loop starting after it, or a standby wait, does not undo it.
  s.setPhase('polling')
  s.setStandby('standby: another receiver holds the lock')
  t.equal(s.snapshot(T0 + 10).state, 'stopping', 'stopping is for good')
  t.same(s.readiness(T0 + 10).reasons, ['the receiver is shutting down'])
  t.end()
})

void t.test('liveness: max(3 poll intervals, 5 min, the longest call + 1 min) without progress toward new data', (t) => {
  const s = make({ pollIntervalMs: MIN })
  t.equal(s.livenessTimeoutMs(), 5 * MIN)
  t.same(s.liveness(T0 + 5 * MIN), { alive: true }, 'counts from start')
  const dead = s.liveness(T0 + 5 * MIN + 1)
  t.equal(dead.alive, false)
  t.match(dead.reason, /no progress toward new data .* for 300 s \(limit 300 s\)/)
  s.progress(T0 + 10 * MIN)
  t.equal(s.liveness(T0 + 14 * MIN).alive, true)
  t.equal(s.snapshot(T0 + 14 * MIN).lastHeartbeatAt, '2024-05-01T00:10:00.000Z')

  const slow = make({ pollIntervalMs: 10 * MIN })
  t.equal(slow.livenessTimeoutMs(), 30 * MIN)
  t.equal(slow.liveness(T0 + 30 * MIN).alive, true)
  t.equal(slow.liveness(T0 + 30 * MIN + 1).alive, false)

  // A request allowed 10 minutes before its first byte (PROOFPOINT_REQUEST_TIMEOUT) is not a stuck loop at 5.
  const patient = make({ pollIntervalMs: MIN, longestCallMs: 10 * MIN })
  t.equal(patient.livenessTimeoutMs(), 11 * MIN, 'the longest call and a minute')
  t.equal(patient.liveness(T0 + 11 * MIN).alive, true)
  t.equal(patient.liveness(T0 + 11 * MIN + 1).alive, false)
  t.equal(make({ pollIntervalMs: MIN, longestCallMs: 60_000 }).livenessTimeoutMs(), 5 * MIN, 'the defaults change nothing')
  t.end()
})

void t.test('liveness: a wait a failure or the budget imposes is explained; a loop that only plans and sleeps is stuck', (t) => {
  const s = make({ pollIntervalMs: MIN })
  s.progress(T0 + 20 * MIN)
  s.setWait({ reason: 'retry_after', what: 'export', untilMono: T0 + 80 * MIN, untilWall: T0 + 80 * MIN, serverRetryAfterMs: 3_600_000 })
  t.equal(s.liveness(T0 + 84 * MIN).alive, true, 'an announced long wait is not a stuck loop')
  t.equal(s.liveness(T0 + 86 * MIN).alive, false, 'but oversleeping it is')
  t.same(s.snapshot(T0 + 30 * MIN).wait, { reason: 'retry_after', what: 'export', until: '2024-05-01T01:20:00.000Z', serverRetryAfterSeconds: 3600 }, 'shown in /status')
  s.setWait(undefined)
  t.equal(s.snapshot(T0 + 30 * MIN).wait, null)
  for (const reason of ['budget', 'backoff'] as const) {
    s.setWait({ reason, untilMono: T0 + 200 * MIN, untilWall: T0 + 200 * MIN })
    t.equal(s.liveness(T0 + 190 * MIN).alive, true, `${reason} is explained`)
  }

  // The livelock found in review: the loop kept planning 1 ms waits for the next window, asking nothing, forever.
  const frozen = make({ pollIntervalMs: MIN })
  let alive = true
  for (let at = T0; at <= T0 + 10 * MIN && alive; at += 1000) {
    frozen.setWait({ reason: 'next_window', untilMono: at + 1, untilWall: at + 1 })
    frozen.setWait({ reason: 'poll_interval', untilMono: at + 1, untilWall: at + 1 })
    alive = frozen.liveness(at).alive
  }
  t.equal(alive, false, 'waits that never lead to a request do not keep /healthz at 200')
  t.end()
})

void t.test('API requests in the last 24 h', (t) => {
  const s = make()
  t.equal(s.snapshot(T0).apiRequestsLast24h, 0, 'none before a counter is set')
  const budget = new RequestBudget(1800)
  s.setApiRequestCounter((now) => budget.used(now))
  budget.record(T0)
  budget.record(T0 + HOUR)
  budget.record(T0 + 2 * HOUR)
  t.equal(s.snapshot(T0 + 2 * HOUR).apiRequestsLast24h, 3)
  t.equal(s.snapshot(T0 + 24 * HOUR).apiRequestsLast24h, 2, 'the first aged out')
  t.equal(s.snapshot(T0 + 27 * HOUR).apiRequestsLast24h, 0)
  t.end()
})

t.test('sweeps: the schedule and what each stage found', (t) => {
  const s = new ReceiverStatus({ startedAt: 0, noEventsAlertAfterMs: 3_600_000, pollIntervalMs: 60_000, eventTypes: ['messagesDelivered'], version: 'test' })
  t.same(s.snapshot(1000).sweeps, [], 'none until configured (and none without an overlap)')
  const at = Date.parse('2026-11-24T12:00:00Z')
  s.sweeps.configure([600_000, 2_100_000], 1_200_000)
  t.same(s.snapshot(at).sweeps.map((x) => [x.age, x.through, x.nextAt, x.lagSeconds, x.lastSweep]), [['10m', null, null, null, null], ['35m', null, null, null, null]])
  s.sweeps.setThroughs([at - 15 * 60_000, at - 40 * 60_000])
  s.sweeps.found(0, 3)
  s.sweeps.swept(0, at, at - 35 * 60_000, at - 15 * 60_000, 3)
  const [early, last] = s.snapshot(at).sweeps
  t.same(early, {
    age: '10m', ageSeconds: 600, spanSeconds: 1200, through: '2026-11-24T11:45:00.000Z', nextAt: '2026-11-24T12:15:00.000Z', lagSeconds: 900, lateEvents: 3,
    lastSweep: { at: '2026-11-24T12:00:00.000Z', start: '2026-11-24T11:25:00.000Z', end: '2026-11-24T11:45:00.000Z', lateEvents: 3 },
    unreachableSeconds: 0,
  })
  t.equal(last?.nextAt, '2026-11-24T12:15:00.000Z', 'through + span + age')
  s.sweeps.found(0, 2)
  t.equal(s.snapshot(at).sweeps[0]?.lateEvents, 5, 'counted since the process started, as they are exported (committed or not)')
  t.equal(s.snapshot(at).sweeps[0]?.lastSweep?.lateEvents, 3, 'the last committed sweep keeps its own count')
  s.sweeps.unreachable(1, 15 * 60_000)
  t.same(s.snapshot(at).sweeps.map((x) => x.unreachableSeconds), [0, 900], 'what a stage could no longer read again')
  t.end()
})
