/**
 * One receiver per state directory (issue 11), with real processes: two compiled receivers on one
 * RECEIVER_STATE_DIR, each with its own SIEM API simulator (same seed: the same events) and its own OTLP sink, so
 * every request and record says which receiver made it. The second waits as a standby (alive, not ready, no
 * request, nothing exported) until the first is killed with SIGKILL, then takes over from the saved cursor. A third
 * one in standby stops at once on SIGTERM, with exit code 0.
 *
 * The second runs a minute ahead (its clock and its simulator's): the window after the first one's cursor is due the
 * moment it takes over, so the test does not wait up to a minute of real time for the next minute boundary.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { startSimulator } from '../../src/simulator/server.js'
import type { SiemSimulator, SimulatorRequest } from '../../src/simulator/server.js'
import { startOtlpSink } from '../helpers/otlp-sink.js'
import type { OtlpSink, SinkRecord } from '../helpers/otlp-sink.js'
import { startReceiver } from '../helpers/child.js'
import { shiftedClockEnv } from '../helpers/shifted-clock.js'
import type { ReceiverProcess, StatusJson } from '../helpers/child.js'

const PRINCIPAL = 'standby-principal'
const SECRET = 'standby-s3cr3t-NEVER-LOGGED'
const MIN = 60_000
const STANDBY_RE = /^standby: another receiver holds the lock on RECEIVER_STATE_DIR "(.+)"/
const STANDBY_LOG_RE = /another receiver holds the lock on RECEIVER_STATE_DIR/

const caughtUp = (s: StatusJson): boolean => s.state === 'waiting' && s.lagSeconds !== null && s.lagSeconds < 120
const uidOf = (r: SinkRecord): string => String(r.attributes['log.record.uid'])
const intervalStart = (r: SimulatorRequest | undefined): number => Date.parse((r?.query.interval ?? '').split('/')[0] ?? '')
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Pair {
  sim: SiemSimulator
  sink: OtlpSink
  /** How far ahead of the real clock this pair's simulator and receiver run (ms). */
  aheadMs: number
}

async function pair(t: Test, aheadMs = 0): Promise<Pair> {
  const sim = await startSimulator({ principal: PRINCIPAL, secret: SECRET, eventsPerMinute: 2, seed: 7, now: () => Date.now() + aheadMs })
  const sink = await startOtlpSink({ rejectChunked: true })
  t.teardown(async () => {
    await sim.close()
    await sink.close()
  })
  return { sim, sink, aheadMs }
}

void t.test('a second receiver on the same state directory is a standby, and takes over after kill -9 of the first', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'psr-standby-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const stateDir = join(dir, 'state')
  const procs: ReceiverProcess[] = []
  t.teardown(async () => {
    for (const p of procs) p.kill('SIGKILL')
    await Promise.all(procs.map((p) => p.exited))
  })
  const a = await pair(t)
  const b = await pair(t, MIN)
  const launch = (to: Pair): ReceiverProcess => {
    const p = startReceiver({
      stateDir,
      env: {
        PROOFPOINT_BASE_URL: to.sim.url,
        PROOFPOINT_PRINCIPAL: PRINCIPAL,
        PROOFPOINT_SECRET: SECRET,
        RECEIVER_START_LOOKBACK: '3h',
        RECEIVER_POLL_INTERVAL: '5m',
        RECEIVER_RETRY_MAX_BACKOFF: '2s',
        OTEL_EXPORTER_OTLP_ENDPOINT: to.sink.url,
        OTEL_EXPORTER_OTLP_TIMEOUT: '5000',
        ...shiftedClockEnv(to.aheadMs),
      },
    })
    procs.push(p)
    return p
  }

  const first = launch(a)
  await first.ready
  await first.waitFor(caughtUp, 60_000, 'the first receiver caught up')
  t.ok(a.sim.requests.length > 0 && a.sink.records.length > 0, 'the first one polls and exports')

  const second = launch(b)
  await second.ready
  const standby = await second.waitFor((s) => s.state === 'standby', 30_000, 'the second in standby')
  t.equal(standby.cursor, null, 'the standby has not loaded the state')
  t.equal(standby.lastPoll, null)
  t.equal((await second.ops('/healthz')).status, 200, '/healthz 200: alive, doing its job')
  const ready = await second.ops('/readyz')
  t.equal(ready.status, 503, '/readyz 503: not the one delivering')
  const reasons = (ready.body as { reasons?: string[] }).reasons ?? []
  t.match(reasons[0], STANDBY_RE, 'the first reason says why')
  t.equal(STANDBY_RE.exec(reasons[0] ?? '')?.[1], stateDir, 'and names the directory')
  // Several lock attempts (one every 2 s) go by: the standby is logged once, not per attempt.
  await sleep(5_000)
  t.equal(second.logsMatching(STANDBY_LOG_RE).length, 1, 'the standby logged once')
  t.equal(b.sim.requests.length, 0, 'no SIEM API request from the standby')
  t.equal(b.sink.requests.length, 0, 'nothing exported by the standby')
  t.equal((await first.status()).state, 'waiting', 'the first one goes on')

  first.kill('SIGKILL')
  await first.exited
  const saved = first.readState()
  t.ok(saved, 'the first one left its cursor')
  const savedCursor = Date.parse(saved?.cursor ?? '')
  const fromA = new Set(a.sink.records.map(uidOf))

  // A minute ahead, the window after the saved cursor is due at once: it polls within a lock retry (2 s) or so.
  const after = await second.waitFor((s) => s.lastPoll !== null && caughtUp(s), 60_000, 'the second took over, polled and caught up')
  t.ok(b.sim.requests.length > 0, 'the second one polls now')
  t.ok(Date.parse(after.cursor ?? '') >= savedCursor, 'its cursor is at or past the saved one')
  // From the saved cursor (minus RECEIVER_OVERLAP, 30 min), not from RECEIVER_START_LOOKBACK (3 h) back.
  const firstAsked = intervalStart(b.sim.requests[0])
  t.ok(firstAsked >= savedCursor - 31 * MIN, `resumed from the saved cursor (asked from ${new Date(firstAsked).toISOString()}, cursor ${saved?.cursor ?? ''})`)
  t.ok(firstAsked > intervalStart(a.sim.requests[0]), 'not from the start again')
  t.equal(b.sink.records.filter((r) => fromA.has(uidOf(r))).length, 0, 'nothing the first one exported was exported again')
  t.ok(second.logsMatching(/took over the lock/).length === 1, 'the takeover is logged')
  t.equal((await second.ops('/readyz')).status, 200, 'ready once it polls')
  t.equal(second.readState()?.cursor, after.cursor ?? undefined, 'it writes the shared state file')

  // A third receiver now waits behind the second; SIGTERM ends its wait at once, exit code 0.
  const c = await pair(t)
  const third = launch(c)
  await third.ready
  await third.waitFor((s) => s.state === 'standby', 30_000, 'the third in standby')
  third.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const exit = await Promise.race([third.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 10_000)))])
  clearTimeout(timer)
  t.ok(exit, 'the standby stopped within 10 s of SIGTERM')
  t.same({ code: exit?.code, signal: exit?.signal }, { code: 0, signal: null }, 'exit code 0')
  t.equal(c.sim.requests.length, 0, 'the third never polled')
  t.notMatch(third.stderr(), /"msg":"receiver started"/, 'and its log does not say it started')
  t.equal((await second.status()).state, 'waiting', 'the holder is untouched')
})
