/**
 * The poller's parts in process: the pure commit (nextState), one window's run (a fake source, a recording sink:
 * batching, concurrency, dedup, acknowledgements, failures on either side), and the loop itself with an in-memory
 * state store, a fake source, a recording sink and simulated time.
 */
import { Writable } from 'node:stream'
import t from 'tap'
import { ExportError, SiemServerError } from '../../src/errors.js'
import { createLogger } from '../../src/logger.js'
import { eventUid } from '../../src/mapping/index.js'
import { Poller, nextState, runWindow, tally } from '../../src/poller/index.js'
import type { ExportOutcome, WindowRecord, WindowRunDeps, WindowSource } from '../../src/poller/index.js'
import { cursorForApiClock } from '../../src/poller/api-time.js'
import { REJECTED } from '../../src/poller/commit.js'
import type { EventBatch, WindowEvents, WindowSummary } from '../../src/siem/client.js'
import type { JsonObject, TimeWindow } from '../../src/siem/types.js'
import { API_LIMITS } from '../../src/siem/windows.js'
import { MemoryStateStore, UidKeyMap } from '../../src/state/index.js'
import type { ReceiverState } from '../../src/state/index.js'
import { ReceiverStatus } from '../../src/status/index.js'
import { fakeTime } from '../helpers/fake-time.js'

const MIN = 60_000
const T0 = Date.parse('2026-11-24T12:00:30.000Z')
const WINDOW: TimeWindow = { start: new Date('2026-11-24T11:00:00Z'), end: new Date('2026-11-24T12:00:00Z') }
const silent = createLogger('fatal', new Writable({ write: (_c, _e, cb) => cb() }))

/** Message i; from 100 on, malformed (a spamScore that is not an int, different per 1000). */
function message(i: number): JsonObject {
  const m: JsonObject = { GUID: `guid-${i}`, id: `id-${i}`, messageTime: new Date(Date.parse('2026-11-24T11:00:00Z') + i * 1000).toISOString(), subject: `s${i}`, sender: 'a@example.com' }
  return i < 100 ? m : { ...m, spamScore: `high${Math.floor(i / 1000)}` }
}
const uid = (i: number): string => eventUid(message(i), 'messagesDelivered')

function batchOf(ids: number[]): EventBatch {
  return { events: { messagesDelivered: ids.map(message), messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] } }
}

/** A source that serves the given batches (and records whether its iteration was finished or abandoned). */
function fakeSource(batches: number[][], opts: { failAfter?: number; queryEndTime?: string } = {}) {
  const seen = { requests: 0, closed: 0, completed: 0, windows: [] as TimeWindow[] }
  const source: WindowSource = {
    events(window): WindowEvents {
      const result: { summary: WindowSummary | undefined; [Symbol.asyncIterator]: () => AsyncGenerator<EventBatch> } = {
        summary: undefined,
        async *[Symbol.asyncIterator]() {
          seen.requests++
          seen.windows.push(window)
          try {
            let n = 0
            for (const [i, ids] of batches.entries()) {
              if (opts.failAfter === i) throw new SiemServerError(502, 'bad gateway')
              n += ids.length
              yield batchOf(ids)
            }
            seen.completed++
            result.summary = { status: 200, bytes: 1000, events: n, ...(opts.queryEndTime ? { queryEndTime: opts.queryEndTime } : {}) }
          } finally {
            seen.closed++
          }
        },
      }
      return result
    },
  }
  return { source, seen }
}

/** A sink recording each call, how many were unanswered at once, and answering as scripted. */
function recordingSink(script: Array<'ok' | Error | { rejected: number[] }> = []) {
  const calls: string[][] = []
  let inflight = 0
  const sink = {
    maxInflight: 0,
    inflightAtFailure: [] as number[],
    calls,
    async exportRecords(records: WindowRecord[]): Promise<ExportOutcome> {
      calls.push(records.map((r) => r.uid))
      inflight++
      sink.maxInflight = Math.max(sink.maxInflight, inflight)
      await new Promise((r) => setTimeout(r, 2))
      inflight--
      const next = script.shift() ?? 'ok'
      if (next instanceof Error) throw next
      if (next === 'ok') return { batches: 1 }
      return { batches: 1, rejected: next.rejected.map((index) => ({ index, reason: 'bad record' })) }
    },
    get inflight() {
      return inflight
    },
  }
  return sink
}

function runDeps(source: WindowSource, sink: ReturnType<typeof recordingSink>, over: Partial<WindowRunDeps> = {}): WindowRunDeps {
  return {
    source,
    exportRecords: (records) => sink.exportRecords(records),
    batchSize: 4,
    concurrency: 2,
    mapping: { attributeShape: 'flat', body: 'json' },
    exported: new UidKeyMap(),
    logger: silent,
    clock: () => T0,
    progress: () => undefined,
    ...over,
  }
}

t.test('runWindow: batches of batchSize across source batches, at most `concurrency` calls at once, every record once', async (t) => {
  const { source, seen } = fakeSource([[0, 1, 2], [3, 4, 5, 6, 7], [8, 9, 10]])
  const sink = recordingSink()
  const done = new UidKeyMap()
  const attempt = await runWindow(runDeps(source, sink), WINDOW, new AbortController().signal, done)
  t.same(sink.calls.map((c) => c.length), [4, 4, 3], 'cut by the export side, not by how the body arrived')
  t.same(sink.calls.flat(), Array.from({ length: 11 }, (_, i) => uid(i)))
  t.equal(sink.maxInflight, 2)
  t.equal(attempt.summary.events, 11)
  t.equal(attempt.fresh.size, 11)
  t.equal(done.size, 11, 'every key acknowledged')
  t.equal(seen.completed, 1)
})

t.test('runWindow: keys exported before, repeated in the window, or acknowledged by an earlier attempt are not sent', async (t) => {
  const { source } = fakeSource([[0, 1, 2, 1], [3, 4]])
  const exported = new UidKeyMap()
  exported.set(uid(0), WINDOW.end.getTime())
  const done = new UidKeyMap()
  done.set(uid(3), 0)
  const sink = recordingSink()
  const attempt = await runWindow(runDeps(source, sink, { exported }), WINDOW, new AbortController().signal, done)
  t.same(sink.calls.flat(), [uid(1), uid(2), uid(4)])
  t.equal(attempt.counts.messagesDelivered.duplicates, 2, 'the earlier export and the repeat')
  t.equal(attempt.fresh.size, 4, 'fresh: 1, 2, 3, 4')
})

t.test('runWindow: a refused record is marked REJECTED; tally counts exported and rejected by type', async (t) => {
  const { source } = fakeSource([[0, 1, 2]])
  const sink = recordingSink([{ rejected: [1] }])
  const done = new UidKeyMap()
  const attempt = await runWindow(runDeps(source, sink), WINDOW, new AbortController().signal, done)
  t.ok((done.get(uid(1)) ?? 0) & REJECTED)
  t.notOk((done.get(uid(0)) ?? 0) & REJECTED)
  const outcome = tally(attempt.fresh, done)
  t.equal(outcome.exported.messagesDelivered, 2)
  t.equal(outcome.rejected.messagesDelivered, 1)
})

t.test('runWindow: an export failure stops the window; no call is left running, the body is abandoned, earlier acks kept', async (t) => {
  const { source, seen } = fakeSource([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13]])
  const failure = new ExportError('PSR_ERR_EXPORT_FAILED', 'collector down')
  const sink = recordingSink(['ok', failure])
  const done = new UidKeyMap()
  const err = await runWindow(runDeps(source, sink, { concurrency: 1 }), WINDOW, new AbortController().signal, done).catch((e: unknown) => e)
  t.equal(err, failure, "the export's own error, not relabelled")
  t.equal(sink.inflight, 0, 'nothing in flight when it rejects')
  t.equal(seen.completed, 0)
  t.equal(seen.closed, 1, 'the source was closed (its body discarded)')
  t.equal(done.size, 4, 'the first call was acknowledged and is remembered')
})

t.test("runWindow: a source failure is thrown as the source's, after the calls in flight settled", async (t) => {
  const { source } = fakeSource([[0, 1, 2, 3], [4]], { failAfter: 1 })
  const sink = recordingSink()
  const err = await runWindow(runDeps(source, sink), WINDOW, new AbortController().signal, new UidKeyMap()).catch((e: unknown) => e)
  t.type(err, SiemServerError)
  t.equal(sink.inflight, 0)
})

/** A logger keeping its lines, parsed. */
function logLines(): { logger: WindowRunDeps['logger']; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write: (c: Buffer, _e, cb) => {
      for (const l of c.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>)
      cb()
    },
  })
  return { logger: createLogger('info', stream), lines }
}

t.test('runWindow: a malformed event is counted and logged when new to the window only: not when read again, nor by a failed attempt', async (t) => {
  // 100 was exported before (a sweep reads it again); 101 comes twice; the first attempt fails after [0, 101].
  const { source } = fakeSource([[0, 100, 101], [102, 101, 1]])
  const exported = new UidKeyMap()
  exported.set(uid(100), WINDOW.end.getTime())
  const sink = recordingSink(['ok', new ExportError('PSR_ERR_EXPORT_FAILED', 'collector down')])
  const { logger, lines } = logLines()
  const deps = runDeps(source, sink, { exported, logger, batchSize: 2, concurrency: 1 })
  const done = new UidKeyMap()
  await t.rejects(runWindow(deps, WINDOW, new AbortController().signal, done))
  const malformedLines = () => lines.filter((l) => String(l.msg).startsWith('malformed event'))
  t.same(malformedLines(), [], 'the failed attempt logs none')
  const attempt = await runWindow(deps, WINDOW, new AbortController().signal, done)
  t.same(sink.calls, [[uid(0), uid(101)], [uid(102), uid(1)], [uid(102), uid(1)]], 'the acknowledged ones not sent again')
  const c = attempt.counts.messagesDelivered
  t.same([c.received, c.malformed, c.duplicates], [6, 2, 2], '101 and 102 malformed; 100 and the second 101 duplicates')
  t.match(malformedLines(), [
    {
      level: 'warn',
      window: { start: WINDOW.start.toISOString(), end: WINDOW.end.toISOString() },
      malformed: 2,
      reasons: [{ reason: 'spamScore: expected int, got string "high0"', events: 2 }],
      first: [{ eventType: 'messagesDelivered', uid: uid(101) }, { eventType: 'messagesDelivered', uid: uid(102) }],
    },
  ], 'one line for the window')
})

t.test('runWindow: the malformed warning of a big window stays small (10 reasons, 3 events named, the rest counted)', async (t) => {
  const ids = Array.from({ length: 30 }, (_, i) => 100 + i * 1000)
  const { source } = fakeSource([ids.slice(0, 15), ids.slice(15)])
  const { logger, lines } = logLines()
  await runWindow(runDeps(source, recordingSink(), { logger }), WINDOW, new AbortController().signal, new UidKeyMap())
  const [line, ...more] = lines.filter((l) => String(l.msg).startsWith('malformed event'))
  t.same(more, [])
  t.match(line, { malformed: 30, otherReasons: 20 })
  t.equal((line?.reasons as unknown[]).length, 10)
  t.equal((line?.first as unknown[]).length, 3)
})

/** Runs a window of `records` records, one per export call, each call answered with `warning(call)`; returns the warning lines. */
async function warnedLines(records: number, now: number, warning: (call: number) => string): Promise<Array<Record<string, unknown>>> {
  const { source } = fakeSource([Array.from({ length: records }, (_, i) => i)])
  const { logger, lines } = logLines()
  let call = 0
  const deps = runDeps(source, recordingSink(), { logger, batchSize: 1, concurrency: 1, clock: () => now, exportRecords: () => Promise.resolve({ batches: 1, warnings: [warning(call++)] }) })
  await runWindow(deps, WINDOW, new AbortController().signal, new UidKeyMap())
  return lines.filter((l) => String(l.msg).startsWith('the collector took the records with a warning'))
}

t.test('runWindow: a collector warning that differs per request only in numbers and ids is logged once an hour, with how often it came', async (t) => {
  const text = (call: number): string => `dropped attribute proofpoint.x on ${call % 7} records of request ${(0xbeef00 + call).toString(16)} at 2026-11-24T12:00:${call % 60}Z`
  const first = await warnedLines(20, T0, text)
  t.equal(first.length, 1, 'one line for 20 requests')
  t.equal(first[0]?.warning, text(0), 'the text as the collector said it')
  t.same(await warnedLines(5, T0 + 59 * MIN, (call) => text(call + 20)), [], 'not again within the hour')
  t.match(await warnedLines(1, T0 + 61 * MIN, text), [{ warning: text(0), repeatedSinceLogged: 24 }], 'an hour later: again, with the count since')
})

t.test('runWindow: past 64 different collector warnings within an hour, the others are counted, not logged', async (t) => {
  // Letters past f: no digit, no hex run, so 100 different warnings.
  const text = (call: number): string => `field ${String.fromCharCode(103 + (call % 20), 103 + Math.floor(call / 20))} is deprecated`
  const at = T0 + 10 * 60 * MIN
  t.equal((await warnedLines(100, at, text)).length, 64)
  t.match(await warnedLines(1, at + 61 * MIN, () => 'another warning'), [{ warning: 'another warning', otherWarningsNotLogged: 36 }])
})

const baseState = (over: Partial<ReceiverState> = {}): ReceiverState => ({ version: 2, cursor: '2026-11-24T11:00:00.000Z', exportedKeys: {}, ...over })
const commitInput = (over: Partial<Parameters<typeof nextState>[0]> = {}): Parameters<typeof nextState>[0] => ({
  state: baseState(),
  window: WINDOW,
  settledEnd: WINDOW.end.getTime(),
  queriedAt: T0,
  stage: undefined,
  gapMs: 0,
  exported: new UidKeyMap(),
  fresh: new UidKeyMap(),
  exportedCount: 0,
  agesMs: [],
  limits: API_LIMITS,
  now: T0,
  apiRequests: [T0],
  ...over,
})

t.test('nextState: the cursor moves to what was answered, never past it, never back', async (t) => {
  t.equal(nextState(commitInput()).state.cursor, '2026-11-24T12:00:00.000Z')
  t.equal(nextState(commitInput({ settledEnd: Date.parse('2026-11-24T11:40:00Z') })).state.cursor, '2026-11-24T11:40:00.000Z', 'queryEndTime short of the end')
  t.equal(nextState(commitInput({ settledEnd: Date.parse('2026-11-24T10:00:00Z') })).state.cursor, '2026-11-24T11:00:00.000Z', 'never back')
  const swept = baseState({ reaskFrom: '2026-11-24T10:30:00.000Z', sweeps: [{ ageSeconds: 2100, through: '2026-11-24T10:30:00.000Z' }] })
  const nothing = nextState(commitInput({ state: swept, agesMs: [35 * MIN], settledEnd: WINDOW.start.getTime() })).state
  t.equal(nothing.reaskFrom, '2026-11-24T10:30:00.000Z', 'nothing answered: the re-ask point stays')
  t.same(nothing.sweeps, swept.sweeps, 'and so do the sweeps')
  t.same(nextState(commitInput()).state.apiRequests, [T0])
})

t.test('nextState: keys of this window are filed under its end; keys that cannot come back are dropped', async (t) => {
  const exported = new UidKeyMap()
  exported.set('old', Date.parse('2026-11-24T09:00:00Z'))
  exported.set('recent', Date.parse('2026-11-24T11:50:00Z'))
  const fresh = new UidKeyMap()
  fresh.set('new', 0)
  const state = baseState({ sweeps: [{ ageSeconds: 2100, through: '2026-11-24T10:30:00.000Z' }] })
  const { exported: next } = nextState(commitInput({ state, agesMs: [35 * MIN], exported, fresh, queriedAt: Date.parse('2026-11-24T12:00:30Z') }))
  t.notOk(next.has('old'), 'before the re-ask point: gone')
  t.ok(next.has('recent'))
  t.equal(next.get('new'), WINDOW.end.getTime())
  t.not(next, exported, 'the input map is not changed')
  t.ok(exported.has('old'))
})

t.test('nextState: gap, last event and the no-events flag', async (t) => {
  const s = nextState(commitInput({ state: baseState({ gapSeconds: 60, noEventsAlerting: true }), gapMs: 120_000 })).state
  t.equal(s.gapSeconds, 180)
  t.equal(s.noEventsAlerting, true, 'still silent: the flag stays')
  t.equal(s.lastEventAt, undefined)
  const flowing = nextState(commitInput({ state: baseState({ noEventsAlerting: true }), exportedCount: 3 })).state
  t.equal(flowing.noEventsAlerting, undefined, 'events exported: cleared')
  t.equal(flowing.lastEventAt, new Date(T0).toISOString())
})

t.test('nextState past a gap: the stages come along to the first window the API serves', async (t) => {
  const state = baseState({ cursor: '2026-11-16T10:00:00.000Z', sweeps: [{ ageSeconds: 600, through: '2026-11-16T09:50:00.000Z' }, { ageSeconds: 2100, through: '2026-11-16T09:25:00.000Z' }] })
  // WINDOW [11:00, 12:00] on 11-24, asked at 12:00:30: the gap is 8 days less the window's hour.
  const gapMs = WINDOW.start.getTime() - Date.parse(state.cursor)
  const next = nextState(commitInput({ state, gapMs, agesMs: [10 * MIN, 35 * MIN] })).state
  t.same(next.sweeps?.map((s) => s.through), ['2026-11-24T11:50:00.000Z', '2026-11-24T11:25:00.000Z'], 'from the window start, over what was already old when asked')
  t.equal(next.reaskFrom, '2026-11-24T11:25:00.000Z')
  const none = nextState(commitInput({ state, gapMs, agesMs: [10 * MIN, 35 * MIN], settledEnd: WINDOW.start.getTime() })).state
  t.same(none.sweeps?.map((s) => s.through), ['2026-11-24T11:00:00.000Z', '2026-11-24T11:00:00.000Z'], 'nothing answered: at the window start, where the cursor is')
})

t.test('nextState: a fresh start (no window committed yet) stays one until a window moves the cursor', async (t) => {
  const start = baseState({ fresh: true })
  t.equal(nextState(commitInput({ state: start, settledEnd: WINDOW.start.getTime() })).state.fresh, true, 'nothing answered')
  t.equal(nextState(commitInput({ state: start })).state.fresh, undefined, 'committed')
})

t.test('Poller: the cursor moves only after the sink acknowledged; a failed export holds it and the window is asked again', async (t) => {
  const time = fakeTime(T0)
  const store = new MemoryStateStore()
  const status = new ReceiverStatus({ startedAt: T0, noEventsAlertAfterMs: 24 * 60 * MIN, pollIntervalMs: MIN, eventTypes: ['messagesDelivered'], version: 'test' })
  const { source, seen } = fakeSource([[0, 1, 2], [3, 4]])
  const sink = Object.assign(recordingSink([new ExportError('PSR_ERR_EXPORT_FAILED', 'collector down')]), { maxConcurrency: 1 })
  const poller = new Poller(
    { pollIntervalMs: MIN, startLookbackMs: 60 * MIN, overlapMs: 0, requestBudget: 1800, exportBatchSize: 4, windowTargets: { maxEvents: 1000, maxBytes: 1 << 20 }, mapping: { attributeShape: 'flat', body: 'json' } },
    { source, sink, store, status, logger: silent, clock: time.clock, monotonic: time.monotonic, sleep: time.sleep },
  )
  await poller.start()
  t.teardown(() => poller.stop())
  await time.idle()
  t.equal((await store.load())?.cursor, '2026-11-24T11:01:00.000Z', 'held while the export fails (the backoff wait is parked)')
  // Let the backoff end, but not the next poll interval (a minute after the first request).
  time.advanceTo(T0 + 30_000)
  await time.idle()
  const state = await store.load()
  t.equal(state?.cursor, '2026-11-24T12:00:00.000Z', 'committed after the retry')
  t.equal(seen.requests, 2, 'the window asked twice')
  t.same(sink.calls.map((c) => c.length), [4, 4, 1], 'first call failed; the retry sent everything again (nothing was acknowledged)')
  t.equal(new Set(sink.calls.slice(1).flat()).size, 5)
  t.same(seen.windows.map((w) => w.end.toISOString()), ['2026-11-24T12:00:00.000Z', '2026-11-24T12:00:00.000Z'])
  t.equal(status.snapshot(time.clock()).totals.exported, 5)
  t.equal(state?.apiRequests?.length, 2, 'both requests counted against the budget, durably')
})

t.test('cursorForApiClock: a cursor moved back to the API clock takes the sweep cursors with it', async (t) => {
  const state = baseState({ cursor: '2026-11-24T14:00:00.000Z', reaskFrom: '2026-11-24T13:00:00.000Z', sweeps: [{ ageSeconds: 600, through: '2026-11-24T13:50:00.000Z' }, { ageSeconds: 2100, through: '2026-11-24T13:00:00.000Z' }] })
  const moved = cursorForApiClock(state, T0, undefined, API_LIMITS)
  t.equal(moved?.cursor, '2026-11-24T12:00:00.000Z')
  t.same(moved?.sweeps?.map((s) => s.through), ['2026-11-24T12:00:00.000Z', '2026-11-24T12:00:00.000Z'], 'never past the cursor')
  t.equal(moved?.reaskFrom, '2026-11-24T12:00:00.000Z')
})

t.test('nextState with sweeps: a sweep moves only its stage; a fresh window moves stages level with it over what was already old', async (t) => {
  const MIN_ = 60_000
  const state = baseState({ sweeps: [{ ageSeconds: 600, through: '2026-11-24T11:00:00.000Z' }, { ageSeconds: 2100, through: '2026-11-24T10:30:00.000Z' }] })
  const ages = [10 * MIN_, 35 * MIN_]
  // WINDOW is [11:00, 12:00], asked at 12:00:30: the 10-minute stage (at 11:00) has now read up to 11:50; the other is behind.
  const fresh = nextState(commitInput({ state, agesMs: ages })).state
  t.equal(fresh.cursor, '2026-11-24T12:00:00.000Z')
  t.same(fresh.sweeps, [{ ageSeconds: 600, through: '2026-11-24T11:50:00.000Z' }, { ageSeconds: 2100, through: '2026-11-24T10:30:00.000Z' }])
  t.equal(fresh.reaskFrom, '2026-11-24T10:30:00.000Z', 'the oldest stage')
  const span = { start: new Date('2026-11-24T10:30:00Z'), end: new Date('2026-11-24T10:50:00Z') }
  const exported = new UidKeyMap()
  exported.set('read-again', Date.parse('2026-11-24T10:40:00Z'))
  exported.set('gone', Date.parse('2026-11-24T10:20:00Z'))
  const lateKeys = new UidKeyMap()
  lateKeys.set('late', 0)
  const swept = nextState(commitInput({ state: fresh, agesMs: ages, stage: 1, window: span, settledEnd: span.end.getTime(), exported, fresh: lateKeys, exportedCount: 1 }))
  t.equal(swept.state.cursor, fresh.cursor, 'a sweep never moves the cursor')
  t.same(swept.state.sweeps?.map((s) => s.through), ['2026-11-24T11:50:00.000Z', '2026-11-24T10:50:00.000Z'])
  t.equal(swept.state.reaskFrom, '2026-11-24T10:50:00.000Z')
  t.ok(swept.exported.has('late') && swept.exported.get('late') === span.end.getTime(), 'a late key filed under the sweep end')
  t.notOk(swept.exported.has('gone'), 'keys no later request can return go')
  t.notOk(swept.exported.has('read-again'), 'nor can this one now: every request starts at 10:50 or later')
  t.equal(swept.state.lastEventAt, new Date(T0).toISOString(), 'a late event is an event (no-events alert)')
})

/**
 * A poller over the fake source, with a sink whose call `hangAt` (0-based) never answers until `release`, as a hanging
 * collector until the pipeline's shutdown rejects what is in flight.
 */
function stoppablePoller(store: MemoryStateStore, hangAt: number, onCall: () => void = () => undefined) {
  const time = fakeTime(T0)
  const status = new ReceiverStatus({ startedAt: T0, noEventsAlertAfterMs: 24 * 60 * MIN, pollIntervalMs: MIN, eventTypes: ['messagesDelivered'], version: 'test' })
  const { source } = fakeSource([[0, 1, 2], [3, 4]])
  const calls: string[][] = []
  let hung: () => void = () => undefined
  const hanging = new Promise<void>((resolve) => (hung = resolve))
  let release: (err: Error) => void = () => undefined
  const sink = {
    maxConcurrency: 1,
    exportRecords(records: WindowRecord[]): Promise<ExportOutcome> {
      calls.push(records.map((r) => r.uid))
      onCall()
      if (calls.length - 1 !== hangAt) return Promise.resolve({ batches: 1 })
      hung()
      return new Promise((_resolve, reject) => (release = reject))
    },
  }
  const logs: string[] = []
  const logger = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => (logs.push(c.toString()), cb()) }))
  const poller = new Poller(
    { pollIntervalMs: MIN, startLookbackMs: 60 * MIN, overlapMs: 0, requestBudget: 1800, exportBatchSize: 100, windowTargets: { maxEvents: 1000, maxBytes: 1 << 20 }, mapping: { attributeShape: 'flat', body: 'json' } },
    { source, sink, store, status, logger, clock: time.clock, monotonic: time.monotonic, sleep: time.sleep },
  )
  return {
    time, poller, calls, logs, hanging,
    /** Stops the poller as the app does: abort the loop, then the pipeline's shutdown rejects the hanging call. */
    async stop(): Promise<void> {
      const stopped = poller.stop()
      release(new ExportError('PSR_ERR_EXPORT_FAILED', 'the exporter was shut down'))
      await stopped
    },
  }
}

const ALL_UIDS = [0, 1, 2, 3, 4].map(uid)
const savedKeys = (state: ReceiverState | undefined): boolean[] => ALL_UIDS.map((u) => UidKeyMap.fromBuckets(state?.exportedKeys ?? {}).has(u))

t.test('Poller: stopped while the "events flowing again" record is in flight, the acknowledged window is saved (cursor and alert flag kept) and not sent again', async (t) => {
  const alerting: ReceiverState = { version: 2, cursor: '2026-11-24T11:00:00.000Z', exportedKeys: {}, lastEventAt: '2026-11-22T12:00:00.000Z', noEventsAlerting: true }
  const store = new MemoryStateStore(alerting)
  const first = stoppablePoller(store, 1)
  await first.poller.start()
  await first.hanging
  await first.stop()
  t.same(first.calls, [ALL_UIDS, [first.calls[1]?.[0]]], 'the window acknowledged, then the alert record hung')
  const saved = await store.load()
  t.same(savedKeys(saved), [true, true, true, true, true], 'the acknowledged keys are saved')
  t.equal(saved?.cursor, alerting.cursor, 'the cursor stays: the window was not committed')
  t.equal(saved?.noEventsAlerting, true, 'the alert stays raised: its clear record was not acknowledged')
  t.ok(first.logs.some((l) => l.includes('the records the collector acknowledged are saved')), 'and says so')

  const second = stoppablePoller(store, -1)
  await second.poller.start()
  t.teardown(() => second.poller.stop())
  await second.time.idle()
  t.same(second.calls, [], 'nothing of the window is sent again after the restart')
  t.equal((await store.load())?.cursor, '2026-11-24T12:00:00.000Z', 'and it is committed')
})

t.test('Poller: stopped while the commit\'s state write fails and backs off, the acknowledged keys are still saved once', async (t) => {
  const store = new MemoryStateStore({ version: 2, cursor: '2026-11-24T11:00:00.000Z', exportedKeys: {} })
  // The request count is saved before the request; the commit after the export is the next save.
  const p = stoppablePoller(store, -1, () => store.failNextSave())
  await p.poller.start()
  await p.time.idle()
  t.equal((await store.load())?.cursor, '2026-11-24T11:00:00.000Z', 'the commit failed and waits to retry')
  await p.stop()
  const saved = await store.load()
  t.same(savedKeys(saved), [true, true, true, true, true], 'the keys are saved by the stop')
  t.equal(saved?.cursor, '2026-11-24T11:00:00.000Z')
})
