/**
 * (sweeps) The cost of the late-event guarantee (issue 15 item 1): a day of steady traffic in simulated time, a share of
 * it indexed late by up to RECEIVER_OVERLAP, through the receiver with its defaults (60 s polls, 30 min overlap, budget
 * 1,800). The simulator runs in this process on the simulated clock, as the idle scenario's API does: each sleep moves
 * the clock on at once. Reports events fetched per event exported over a steady 24 h, requests in that 24 h against
 * 90 % of the budget, every event of the day delivered (lost = 0, duplicates = 0), and the time from an event becoming
 * visible in the API to its export (p50/p99, all events and the late ones).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createApp } from '../src/app.js'
import { loadConfig } from '../src/config/index.js'
import { createLogger } from '../src/logger.js'
import { eventUid } from '../src/mapping/index.js'
import { forEachGeneratedEvent, indexingLagMs, startSimulator } from '../src/simulator/index.js'

const MIN = 60_000
const H = 60 * MIN
/** A whole minute plus 30 s: polls land mid-minute, as they do in production. */
const START = Date.parse('2026-11-24T00:00:30.000Z')
const EVENTS_PER_MINUTE = 20
/** About 1 event in 20 shows late, spread evenly up to the overlap (30 min); the rest at once. */
const LATE_SHARE = 0.05
const MAX_LAG_MS = 30 * MIN
const SEED = 11
const BUDGET = 1800

export interface SweepFigures {
  /** Events the receiver received (every request) per event it exported, over the measured 24 h. */
  fetchedPerExported: number
  requests24h: number
  budget90: number
  /** Events created in the day (all visible and swept by the end). */
  expected: number
  lateExpected: number
  lost: number
  duplicates: number
  /** Visible → acknowledged export, seconds of simulated time. */
  latency: { p50: number; p99: number; lateP50: number; lateP99: number }
  /** Per sweep stage: late events found. */
  lateBySweep: Record<string, number>
}

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN

export async function runSweeps(sinkUrl: string, principal: string, secret: string): Promise<{ figures: SweepFigures; ms: number; cpuMs: number }> {
  let now = START
  const clock = (): number => now
  const sim = await startSimulator({
    principal, secret, now: clock, eventsPerMinute: EVENTS_PER_MINUTE, seed: SEED, maxIndexingLagMs: MAX_LAG_MS, lateShare: LATE_SHARE,
  })
  const stateDir = await mkdtemp(join(tmpdir(), 'psr-bench-sweeps-'))
  const { config } = loadConfig({
    env: {
      PROOFPOINT_BASE_URL: sim.url,
      PROOFPOINT_PRINCIPAL: principal,
      PROOFPOINT_SECRET: secret,
      PROOFPOINT_REQUEST_BUDGET: String(BUDGET),
      RECEIVER_STATE_DIR: stateDir,
      RECEIVER_START_LOOKBACK: '1m',
      RECEIVER_HTTP_HOST: '127.0.0.1',
      RECEIVER_HTTP_PORT: '0',
      RECEIVER_LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
    },
  })
  const sleep = (ms: number, signal: AbortSignal): Promise<void> => {
    if (!signal.aborted) now += ms
    return new Promise((resolve) => setImmediate(resolve))
  }
  const exportedAt = new Map<string, number[]>()
  const app = createApp(config, {
    logger: createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() })),
    clock, monotonic: clock, sleep,
    onExported: (records) => {
      for (const r of records) exportedAt.set(r.uid, [...(exportedAt.get(r.uid) ?? []), now])
    },
  })
  const started = performance.now()
  const cpu = process.cpuUsage()
  await app.start()
  // One hour to settle (the first sweeps), then the measured day, then an hour so that its last spans are swept.
  const from = START + H
  const to = from + 24 * H
  const until = async (t: number): Promise<void> => {
    while (now < t) await new Promise((r) => setTimeout(r, 1))
  }
  await until(from)
  const a = app.status.snapshot(now).totals
  await until(to)
  const b = app.status.snapshot(now)
  await until(to + H)
  const end = app.status.snapshot(now)
  await app.shutdown()
  const ms = performance.now() - started
  const d = process.cpuUsage(cpu)
  await sim.close()
  await rm(stateDir, { recursive: true, force: true })

  // Every event created in the measured day: when it became visible, and whether (and when) it was exported.
  const latencies: number[] = []
  const lateLatencies: number[] = []
  let expected = 0
  let lateExpected = 0
  let lost = 0
  let duplicates = 0
  forEachGeneratedEvent(from, to, { seed: SEED, eventsPerMinute: EVENTS_PER_MINUTE }, (e) => {
    const lag = indexingLagMs(e.lag, MAX_LAG_MS, LATE_SHARE)
    const visible = e.timeMs + lag
    const times = exportedAt.get(eventUid(e.event, e.type))
    expected++
    if (lag > 0) lateExpected++
    if (!times) return void lost++
    duplicates += times.length - 1
    const latency = (times[0]! - visible) / 1000
    latencies.push(latency)
    if (lag > 0) lateLatencies.push(latency)
  })
  latencies.sort((x, y) => x - y)
  lateLatencies.sort((x, y) => x - y)
  return {
    ms,
    cpuMs: (d.user + d.system) / 1000,
    figures: {
      fetchedPerExported: (b.totals.received - a.received) / Math.max(1, b.totals.exported - a.exported),
      requests24h: b.apiRequestsLast24h,
      budget90: Math.floor(BUDGET * 0.9),
      expected,
      lateExpected,
      lost,
      duplicates,
      latency: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), lateP50: quantile(lateLatencies, 0.5), lateP99: quantile(lateLatencies, 0.99) },
      lateBySweep: Object.fromEntries(end.sweeps.map((s) => [s.age, s.lateEvents])),
    },
  }
}
