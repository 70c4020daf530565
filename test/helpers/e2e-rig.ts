import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { createApp } from '../../src/app.js'
import type { App, AppDeps } from '../../src/app.js'
import { loadConfig } from '../../src/config/index.js'
import { METRIC_PREFIX } from '../../src/ops/metrics.js'
import { createLogger } from '../../src/logger.js'
import { eventUid } from '../../src/mapping/index.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { JsonObject } from '../../src/siem/types.js'
import { startSimulator } from '../../src/simulator/index.js'
import type { SiemSimulator } from '../../src/simulator/index.js'
import { fakeTime } from './fake-time.js'
import type { FakeTime } from './fake-time.js'
import { startOtlpSink } from './otlp-sink.js'
import type { OtlpSink, SinkRecord } from './otlp-sink.js'

/**
 * The in-process end-to-end rig: the simulator as the SIEM API (real HTTP), the real receiver (client, mapper,
 * export pipeline, exporter, state file), a real OTLP/HTTP sink. Only time is simulated.
 */
export const SECRET = 'e2e-s3cr3t-MUST-NOT-LEAK'
export const PRINCIPAL = 'e2e-principal'
export const MIN = 60_000
export const H = 60 * MIN
export const T0 = Date.parse('2026-11-24T12:00:30.000Z')

export interface Rig {
  time: FakeTime
  sim: SiemSimulator
  sink: OtlpSink
  stateDir: string
  logs: string[]
  /** `env`: settings changed for this run (a restart with another configuration over the same state directory). */
  startApp(extra?: Partial<AppDeps>, env?: Record<string, string>): Promise<App>
  /** Requests the sink accepted that no receiver of this rig saw acknowledged (see CutOff). */
  cutOff(): Promise<CutOff>
}

/**
 * OTLP requests the sink accepted whose answer a receiver did not take in time: it came after the exporter's deadline
 * (OTEL_EXPORTER_OTLP_TIMEOUT, real time; a loaded machine can starve this process, which runs receiver and sink,
 * that long, and the receiver's timer then fires before it reads the answer). The receiver sends such a batch again,
 * as at-least-once must: the only duplicates a test may excuse. `records`: at most what those requests carried.
 */
export interface CutOff {
  requests: number
  records: number
}

export interface RigOptions {
  /** How the simulated API answers an interval that ends in its future (default: 400, as the real API). */
  futureEnd?: 'reject' | 'clamp'
}


export async function rig(t: Test, protocol: 'http/protobuf' | 'http/json', env: Record<string, string> = {}, eventsPerMinute = 3, opts: RigOptions = {}): Promise<Rig> {
  const time = fakeTime(T0)
  // The API keeps true time; the receiver reads the wall clock, which a test may shift (time.shiftWall).
  const sim = await startSimulator({ principal: PRINCIPAL, secret: SECRET, now: time.monotonic, eventsPerMinute, seed: 7, ...(opts.futureEnd ? { futureEnd: opts.futureEnd } : {}) })
  const sink = await startOtlpSink({ rejectChunked: true })
  const stateDir = t.testdir()
  const logs: string[] = []
  const apps: App[] = []
  t.teardown(async () => {
    for (const app of apps) await app.shutdown()
    await sim.close()
    await sink.close()
  })
  const baseEnv: Record<string, string> = {
    PROOFPOINT_BASE_URL: sim.url,
    PROOFPOINT_PRINCIPAL: PRINCIPAL,
    PROOFPOINT_SECRET: SECRET,
    RECEIVER_STATE_DIR: stateDir,
    RECEIVER_START_LOOKBACK: '1h',
    RECEIVER_HTTP_HOST: '127.0.0.1',
    RECEIVER_HTTP_PORT: '0',
    RECEIVER_LOG_LEVEL: 'debug',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: protocol,
    // Above what a loopback export takes under load (an export that times out after the collector took it is a
    // legitimate duplicate, which the exactly-once checks would fail: seen at 1.5 s), below what makes the tests of a
    // failing collector slow (the exporter retries a refused connection or a 503 until it passes).
    OTEL_EXPORTER_OTLP_TIMEOUT: '4000',
    OTEL_SERVICE_NAME: 'e2e-receiver',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
    // Window-exact assertions below; the overlap has tests of its own.
    RECEIVER_OVERLAP: '0s',
    RECEIVER_RETRY_MAX_BACKOFF: '2m',
    // In the main thread unless a test asks for threads (e2e.test.ts, workers.test.ts; the fault suite runs every
    // fault with 2): 'auto' would make these tests differ by machine (none on 1 CPU), and on windows of a few events
    // a thread adds a round trip per batch and no speed (measured: sweeps.test.ts 39 s with 2 threads, 29 s without).
    RECEIVER_WORKERS: '0',
    ...env,
  }
  const { config } = loadConfig({ env: baseEnv })
  const logStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      cb()
    },
  })
  return {
    time,
    sim,
    sink,
    stateDir,
    logs,
    async startApp(extra = {}, env) {
      const app = createApp(env ? loadConfig({ env: { ...baseEnv, ...env } }).config : config, { logger: createLogger('debug', logStream), clock: time.clock, monotonic: time.monotonic, sleep: time.sleep, ...extra })
      apps.push(app)
      await app.start()
      return app
    },
    async cutOff() {
      let acknowledged = 0
      for (const app of apps) acknowledged += metricValue(await app.metrics.render(), `${METRIC_PREFIX}export_requests_total{outcome="ok"}`)
      const requests = sink.accepted.requests - acknowledged
      return { requests, records: requests * sink.accepted.maxRecords }
    },
  }
}

/** A sample's value in a Prometheus text exposition (`sample` written as it appears, labels included); NaN if absent. */
export function metricValue(exposition: string, sample: string): number {
  const line = exposition.split('\n').find((l) => l.startsWith(`${sample} `))
  return line === undefined ? Number.NaN : Number(line.slice(sample.length + 1))
}

/** A metric summed over its samples (every event type, every sweep age; `name` may hold labels to pick some); 0 if absent. */
export function metricTotal(exposition: string, name: string): number {
  return exposition
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

/** What the simulated API holds for [start, end], as log.record.uid → the event. */
export function expectedUids(sim: SiemSimulator, start: number, end: number): Map<string, { type: string; event: JsonObject }> {
  const byType = sim.eventsIn({ start: new Date(start), end: new Date(end) })
  const out = new Map<string, { type: string; event: JsonObject }>()
  for (const type of EVENT_TYPES) for (const event of byType[type]) out.set(eventUid(event, type), { type, event })
  return out
}

export const uidOf = (r: SinkRecord): string => String(r.attributes['log.record.uid'])

export function readState(dir: string): { cursor: string; exportedKeys: Record<string, string>; lastEventAt?: string; apiRequests?: string[] } {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { cursor: string; exportedKeys: Record<string, string> }
}

/**
 * Every event the API holds arrived, and no other. Once each, except (with `cutOff`, from Rig.cutOff) the batches of
 * requests the receiver gave up on after the sink had accepted them; with none cut off, nothing may arrive twice.
 */
export function assertExactlyOnce(t: Test, sink: { records: readonly SinkRecord[] }, expected: Map<string, unknown>, cutOff: CutOff = { requests: 0, records: 0 }): void {
  const got = sink.records.map(uidOf)
  const unique = new Set(got)
  t.ok(cutOff.requests >= 0, `the receivers saw no acknowledgement the sink did not send (${cutOff.requests} requests cut off)`)
  if (cutOff.requests === 0) t.equal(got.length, unique.size, 'no record arrived twice')
  else t.ok(got.length - unique.size <= cutOff.records, `${got.length - unique.size} records arrived twice, within the ${cutOff.requests} request(s) answered after the receiver's deadline`)
  t.equal(unique.size, expected.size, 'as many records as the API holds events')
  const missing = [...expected.keys()].filter((k) => !unique.has(k))
  const extra = [...unique].filter((k) => !expected.has(k))
  t.same({ missing, extra }, { missing: [], extra: [] }, 'the same events')
}

