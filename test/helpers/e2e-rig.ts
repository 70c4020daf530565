import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { createApp } from '../../src/app.js'
import type { App, AppDeps } from '../../src/app.js'
import { loadConfig } from '../../src/config/index.js'
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
  startApp(extra?: Partial<AppDeps>): Promise<App>
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
  const { config } = loadConfig({
    env: {
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
      OTEL_EXPORTER_OTLP_TIMEOUT: '1500',
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
    },
  })
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
    async startApp(extra = {}) {
      const app = createApp(config, { logger: createLogger('debug', logStream), clock: time.clock, monotonic: time.monotonic, sleep: time.sleep, ...extra })
      apps.push(app)
      await app.start()
      return app
    },
  }
}

/** What the simulated API holds for [start, end], as log.record.uid → the event. */
export function expectedUids(sim: SiemSimulator, start: number, end: number): Map<string, { type: string; event: JsonObject }> {
  const byType = sim.eventsIn({ start: new Date(start), end: new Date(end) })
  const out = new Map<string, { type: string; event: JsonObject }>()
  for (const type of EVENT_TYPES) for (const event of byType[type]) out.set(eventUid(event, type), { type, event })
  return out
}

export const uidOf = (r: SinkRecord): string => String(r.attributes['log.record.uid'])

export function readState(dir: string): { cursor: string; exportedKeys: Record<string, string>; lastEventAt?: string } {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { cursor: string; exportedKeys: Record<string, string> }
}

export function assertExactlyOnce(t: Test, sink: { records: readonly SinkRecord[] }, expected: Map<string, unknown>): void {
  const got = sink.records.map(uidOf)
  const unique = new Set(got)
  t.equal(got.length, unique.size, 'no record arrived twice')
  t.equal(unique.size, expected.size, 'as many records as the API holds events')
  const missing = [...expected.keys()].filter((k) => !unique.has(k))
  const extra = [...unique].filter((k) => !expected.has(k))
  t.same({ missing, extra }, { missing: [], extra: [] }, 'the same events')
}

