/**
 * One benchmark scenario per child process (`bench.js --child <variant> <events>`), so that peak RSS is the
 * scenario's own. The parent runs the SIEM API front and the OTLP sink (see servers.ts) and passes their URLs in
 * the environment. Each scenario prints one JSON line (ChildResult) on stdout.
 */
import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks'
import type { PerformanceEntry } from 'node:perf_hooks'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { ExportResultCode } from '@opentelemetry/core'
import type { ExportResult } from '@opentelemetry/core'
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto'
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs'
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs'
import type { AnyValueMap } from '@opentelemetry/api-logs'
import { request } from 'undici'
import { createApp } from '../src/app.js'
import { loadConfig } from '../src/config/index.js'
import { OtlpProtoLogsEncoder } from '../src/export/otlp-proto-encoder.js'
import { buildResource, SCOPE_NAME } from '../src/export/resource.js'
import { mappingOptions } from '../src/config/part-options.js'
import { createLogger } from '../src/logger.js'
import type { LogRecordParts } from '../src/mapping/types.js'
import { SiemBodyParser } from '../src/siem/response-parser.js'
import { EVENT_TYPES } from '../src/siem/types.js'
import type { RawEvents } from '../src/siem/types.js'
import { resolveWorkers } from '../src/workers/cpus.js'
import { isParseFailure } from '../src/workers/encode-batch.js'
import type { BatchResult } from '../src/workers/encode-batch.js'
import { WorkerPool } from '../src/workers/pool.js'
import { VERSION } from '../src/version.js'
import { runSweeps } from './sweeps.js'
import type { SweepFigures } from './sweeps.js'

export const VARIANTS = ['a', 'a2', 'a0', 'w0', 'p', 'b', 'c', 'c2', 'idle', 'sweeps'] as const
export type Variant = (typeof VARIANTS)[number]

export const PRINCIPAL = 'bench-principal'
export const SECRET = 'bench-secret'
export const AUTHORIZATION = `Basic ${Buffer.from(`${PRINCIPAL}:${SECRET}`).toString('base64')}`
/** The receiver's (frozen) clock and the simulator's: a whole minute, so the window is exactly [T0 − 1 h, T0]. */
export const T0 = Date.parse('2026-11-24T12:00:00.000Z')
export const WINDOW_MS = 3_600_000
const MB = 1e6
/** A window's request, as the receiver's client sends it. */
export const windowPath = (end: number): string =>
  `/v2/siem/all?format=json&interval=${new Date(end - WINDOW_MS).toISOString().slice(0, 19)}Z/${new Date(end).toISOString().slice(0, 19)}Z`
export const WINDOW_PATH = windowPath(T0)
/** Settings the bench's environment passes to the receiver (a). */
export const TUNABLE = /^(RECEIVER_EXPORT_|RECEIVER_WINDOW_MAX_|RECEIVER_WORKERS$|OTEL_EXPORTER_OTLP_(LOGS_)?COMPRESSION$)/

/** Records per OTLP request for the floor: the receiver's and the SDK's default batch size. */
const FLOOR_BATCH = 512

export interface ChildResult {
  variant: Variant
  /** Events in the window (what the SIEM API answered). */
  events: number
  /** SIEM JSON body bytes. */
  bodyBytes: number
  /** Wall time of the measured part, ms. */
  ms: number
  /** User + system CPU time of this process over the measured part, ms. */
  cpuMs: number
  /** (a2) Events of the window the first window had exported already (stamped at their common second), not in `events`. */
  repeated?: number
  /** Peak RSS of this process, bytes (see peakRssBytes). */
  maxRssBytes: number
  /** process.resourceUsage().maxRSS, bytes: includes the parent's RSS at spawn on Linux. */
  maxRssRusageBytes: number
  /** Events acknowledged by the sink (a, c, c2) or encoded (b). */
  delivered: number
  /** Peaks of process.memoryUsage() sampled every 50 ms during the measured part ((a) only), bytes. */
  memory?: { heapUsed: number; external: number; heapTotal?: number; rss?: number }
  /** OTLP bytes encoded (b only: the sink counts the others). */
  encodedBytes?: number
  /** Warnings worth a look (receiver log lines at warn and above, SDK errors). */
  notes: string[]
  /** (sweeps only) the late-event figures. */
  sweeps?: SweepFigures
}

interface ChildEnv {
  siemUrl: string
  sinkUrl: string
  /** (a2) The windows after the first (--windows). */
  windows: number
}

function childEnv(): ChildEnv {
  const siemUrl = process.env.BENCH_SIEM_URL
  const sinkUrl = process.env.BENCH_SINK_URL
  if (!siemUrl || !sinkUrl) throw new Error('BENCH_SIEM_URL and BENCH_SINK_URL must be set (the parent sets them)')
  return { siemUrl, sinkUrl, windows: Number(process.env.BENCH_WINDOWS ?? 1) }
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start)
  return (d.user + d.system) / 1000
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.()

/**
 * This process's peak resident set, bytes. On Linux, getrusage's maxRSS (process.resourceUsage().maxRSS) carries over
 * the parent's RSS through fork + exec, so a child of a parent holding a 500 MB body would report at least that; the
 * kernel's high-water mark of the process's own memory (VmHWM) does not. Elsewhere maxRSS is all there is.
 */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) return Number(m[1]) * 1024
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024
}

/**
 * (a) The receiver end to end: createApp with the real client, mapper, export pipeline, exporter and state file.
 * (a0) the same without the indicator and standard-field attributes, to show what they cost.
 */
/**
 * (a, a0, w0) One window, [T0 − 1 h, T0], in a fresh process. (a2) That window, then the next hour's in the same
 * process: what the second window of a catch-up costs, once the threads are started and the JIT has warmed up (the
 * first window's own time is in the notes).
 */
async function runReceiver(env: ChildEnv, variant: 'a' | 'a2' | 'a0' | 'w0'): Promise<ChildResult> {
  const stateDir = await mkdtemp(join(tmpdir(), 'psr-bench-'))
  const notes: string[] = []
  /** SIEM body bytes of each window done, in order (the receiver's `window done` log lines). */
  const windowBytes: number[] = []
  const logStream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue
        const entry = JSON.parse(line) as { level?: string; msg?: string; received?: number; bytes?: number }
        if (entry.msg === 'window done') windowBytes.push(entry.bytes ?? 0)
        else if ((entry.level === 'warn' || entry.level === 'error' || entry.level === 'fatal') && notes.length < 20) notes.push(line.slice(0, 400))
      }
      cb()
    },
  })
  const { config } = loadConfig({
    env: {
      PROOFPOINT_BASE_URL: env.siemUrl,
      PROOFPOINT_PRINCIPAL: PRINCIPAL,
      PROOFPOINT_SECRET: SECRET,
      RECEIVER_STATE_DIR: stateDir,
      RECEIVER_START_LOOKBACK: '1h',
      RECEIVER_OVERLAP: '0s',
      RECEIVER_HTTP_HOST: '127.0.0.1',
      RECEIVER_HTTP_PORT: '0',
      RECEIVER_LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: env.sinkUrl,
      OTEL_SERVICE_NAME: 'bench-receiver',
      // Tuning runs: `RECEIVER_EXPORT_BATCH_SIZE=1024 npm run bench` and the like reach the receiver.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => TUNABLE.test(k))),
      ...(variant === 'a0' ? { RECEIVER_INDICATORS: 'false', RECEIVER_STANDARD_FIELDS: 'false' } : {}),
      ...(variant === 'w0' ? { RECEIVER_WORKERS: '0' } : {}),
    },
  })
  // Time stands still at T0: the first window is [T0 − 1 h, T0], and when the receiver then waits for its next poll
  // the sleep parks until shutdown aborts it, or (a2) until the clock is moved on an hour. A retry would park too; the
  // wait below fails on the error instead.
  let now = T0
  const clock = (): number => now
  const parked = new Set<() => void>()
  const sleep = (_ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve()
      const wake = (): void => {
        parked.delete(wake)
        resolve()
      }
      parked.add(wake)
      signal.addEventListener('abort', wake, { once: true })
    })
  const app = createApp(config, { logger: createLogger(config.receiver.logLevel, logStream), clock, sleep })
  gc()
  const memory = { heapUsed: 0, heapTotal: 0, external: 0, rss: 0 }
  const sampler = setInterval(() => {
    const m = process.memoryUsage()
    memory.heapUsed = Math.max(memory.heapUsed, m.heapUsed)
    memory.external = Math.max(memory.external, m.external)
    memory.heapTotal = Math.max(memory.heapTotal, m.heapTotal)
    memory.rss = Math.max(memory.rss, m.rss)
    // Each sample costs ~0.3 ms of this thread (heap spaces and /proc): every 20 ms it was 1.5 % of a core.
  }, 50)
  sampler.unref()
  // The main thread's collections (worker threads have their own heaps): what the main thread's share costs in GC.
  const gcs = { minor: { n: 0, ms: 0 }, major: { n: 0, ms: 0 } }
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      const kind = e.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? gcs.minor : gcs.major
      kind.n++
      kind.ms += e.duration
    }
  })
  gcObserver.observe({ entryTypes: ['gc'] })
  let started = performance.now()
  let cpu = process.cpuUsage()
  await app.start()
  await committed(app, T0)
  let firstWindow = { events: 0, exported: 0, duplicates: 0 }
  if (variant === 'a2') {
    const ms = performance.now() - started
    const { totals } = app.status.snapshot(now)
    firstWindow = { events: totals.received, exported: totals.exported, duplicates: totals.duplicates }
    notes.push(`the first window (not measured): ${totals.received} events in ${ms.toFixed(0)} ms, ${(cpuSince(cpu) / 1000).toFixed(1)} s CPU`)
    started = performance.now()
    cpu = process.cpuUsage()
    for (let k = 1; k <= env.windows; k++) {
      const before = { ms: performance.now(), cpu: process.cpuUsage(), major: { ...gcs.major } }
      now = T0 + k * WINDOW_MS
      for (const wake of [...parked]) wake()
      await committed(app, now)
      if (env.windows === 1) break
      // A catch-up (--windows): does each window cost the same, and does memory settle? The heap is read after a
      // full collection (~20 ms, inside the measured time).
      const ms = performance.now() - before.ms
      const cpuMs = cpuSince(before.cpu)
      gc()
      const m = process.memoryUsage()
      notes.push(
        `window ${k + 1}: ${ms.toFixed(0)} ms, ${(cpuMs / 1000).toFixed(1)} s CPU, main-thread major GCs ${gcs.major.n - before.major.n} (${(gcs.major.ms - before.major.ms).toFixed(0)} ms); ` +
          `then heap ${(m.heapUsed / MB).toFixed(0)} MB, external ${(m.external / MB).toFixed(0)} MB, RSS ${(m.rss / MB).toFixed(0)} MB`,
      )
    }
  }
  const ms = performance.now() - started
  const cpuMs = cpuSince(cpu)
  clearInterval(sampler)
  gcObserver.disconnect()
  notes.push(`main-thread GC: ${gcs.minor.n} minor (${gcs.minor.ms.toFixed(0)} ms), ${gcs.major.n} other (${gcs.major.ms.toFixed(0)} ms)`)
  const { totals } = app.status.snapshot(now)
  await app.shutdown()
  await rm(stateDir, { recursive: true, force: true })
  if (totals.malformed > 0 || totals.rejected > 0 || totals.duplicates > 0) {
    notes.push(`malformed ${totals.malformed}, rejected ${totals.rejected}, duplicates ${totals.duplicates}`)
  }
  // (a2) An event stamped at the windows' common second is in both answers: the first window exported it, the second
  // drops it as a duplicate, which is not an event of that window's to deliver.
  const repeated = totals.duplicates - firstWindow.duplicates
  if (variant === 'a2' && repeated > 0) notes.push(`${repeated} event(s) at the windows' common boundary, already exported by the first: not counted`)
  return {
    variant,
    events: totals.received - firstWindow.events - (variant === 'a2' ? repeated : 0),
    ...(variant === 'a2' ? { repeated } : {}),
    // (a2) the windows after the first.
    bodyBytes: windowBytes.slice(variant === 'a2' ? 1 : 0).reduce((a, b) => a + b, 0),
    ms,
    cpuMs,
    maxRssBytes: peakRssBytes(),
    maxRssRusageBytes: process.resourceUsage().maxRSS * 1024,
    delivered: totals.exported - firstWindow.exported,
    memory,
    notes,
  }
}

/** Waits until the receiver has committed its cursor to `target`; fails on the receiver's error, or after 140 s. */
async function committed(app: ReturnType<typeof createApp>, target: number): Promise<void> {
  const deadline = Date.now() + 140_000
  for (;;) {
    const s = app.status.snapshot(target)
    if (s.cursor !== null && Date.parse(s.cursor) >= target) return
    const failure = s.lastPoll?.outcome === 'error' ? s.lastPoll.error : s.lastExport?.outcome === 'error' ? s.lastExport.error : undefined
    if (failure) {
      await app.shutdown()
      throw new Error(`the receiver failed: ${failure.code} ${failure.message}`)
    }
    if (Date.now() > deadline) {
      await app.shutdown()
      throw new Error(`the window was not committed within 140 s (state ${s.state}, cursor ${s.cursor})`)
    }
    // At most 10 ms late on windows of seconds; a snapshot is not free, and this thread is the receiver's.
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Polls of an empty tenant the idle scenario makes: 10 minutes at the default 60 s interval. */
export const IDLE_POLLS = 10

/**
 * (idle) What a caught-up receiver costs while nothing happens: IDLE_POLLS polls of an API that answers every window
 * empty (a server in this process, stamping its Date header with the simulated clock), in simulated time: each sleep
 * moves the clock on at once, so the CPU measured is the polls' own (requests, planning, state writes), not waiting.
 */
async function runIdle(env: ChildEnv): Promise<ChildResult> {
  let now = T0
  const api = createServer((_req, res) => {
    const body = { queryEndTime: new Date(now).toISOString(), messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
    res.writeHead(200, { 'content-type': 'application/json', date: new Date(now).toUTCString() }).end(JSON.stringify(body))
  })
  api.listen(0, '127.0.0.1')
  await once(api, 'listening')
  const stateDir = await mkdtemp(join(tmpdir(), 'psr-bench-idle-'))
  const { config } = loadConfig({
    env: {
      PROOFPOINT_BASE_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}`,
      PROOFPOINT_PRINCIPAL: PRINCIPAL,
      PROOFPOINT_SECRET: SECRET,
      RECEIVER_STATE_DIR: stateDir,
      RECEIVER_START_LOOKBACK: '1m',
      RECEIVER_HTTP_HOST: '127.0.0.1',
      RECEIVER_HTTP_PORT: '0',
      RECEIVER_LOG_LEVEL: 'warn',
      OTEL_EXPORTER_OTLP_ENDPOINT: env.sinkUrl,
    },
  })
  const clock = (): number => now
  const sleep = (ms: number, signal: AbortSignal): Promise<void> => {
    if (!signal.aborted) now += ms
    return new Promise((resolve) => setImmediate(resolve))
  }
  const app = createApp(config, { logger: createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() })), clock, monotonic: clock, sleep })
  const cursorAt = (): number => Date.parse(app.status.snapshot(now).cursor ?? '1970-01-01T00:00:00Z')
  await app.start()
  // Measured from the first commit on: start-up is not idle cost.
  while (cursorAt() < T0) await new Promise((r) => setTimeout(r, 1))
  gc()
  const before = app.status.snapshot(now).apiRequestsLast24h
  const started = performance.now()
  const cpu = process.cpuUsage()
  const end = T0 + IDLE_POLLS * 60_000
  while (cursorAt() < end) await new Promise((r) => setTimeout(r, 1))
  const ms = performance.now() - started
  const cpuMs = cpuSince(cpu)
  const polls = app.status.snapshot(now).apiRequestsLast24h - before
  await app.shutdown()
  api.close()
  await rm(stateDir, { recursive: true, force: true })
  return {
    variant: 'idle',
    events: 0,
    bodyBytes: 0,
    ms,
    cpuMs,
    maxRssBytes: peakRssBytes(),
    maxRssRusageBytes: process.resourceUsage().maxRSS * 1024,
    delivered: 0,
    notes: [`${polls} polls of an empty tenant: ${(cpuMs / Math.max(1, polls)).toFixed(1)} ms CPU each`],
  }
}

/** (sweeps) A day of steady traffic with late events in simulated time: see sweeps.ts. */
async function runSweepsChild(env: ChildEnv): Promise<ChildResult> {
  const { figures, ms, cpuMs } = await runSweeps(env.sinkUrl, PRINCIPAL, SECRET)
  return {
    variant: 'sweeps',
    events: figures.expected,
    bodyBytes: 0,
    ms,
    cpuMs,
    maxRssBytes: peakRssBytes(),
    maxRssRusageBytes: process.resourceUsage().maxRSS * 1024,
    delivered: figures.expected - figures.lost,
    notes: [],
    sweeps: figures,
  }
}

/**
 * (p) The part of (a) that the threads do, alone: the body (fetched before timing) framed by the receiver's own
 * parser in raw batches of its export batch size, in network-sized chunks, and each batch parsed, mapped and encoded
 * by a WorkerPool of the receiver's default size, with as many batches in flight as (a) allows. No HTTP, no dedup, no
 * export, no state: (a) does all of this and more, so it can be no faster. Timed from creating the pool (its threads
 * start on the first batch, as in (a)) until every batch is back.
 */
/** (p) The body is written to the parser in pieces of this size: what a socket read gives on 127.0.0.1. */
const CHUNK_BYTES = 64 * 1024

async function runPool(env: ChildEnv): Promise<ChildResult> {
  const body = await fetchBody(env)
  const { config } = loadConfig({
    env: {
      PROOFPOINT_PRINCIPAL: PRINCIPAL,
      PROOFPOINT_SECRET: SECRET,
      OTEL_EXPORTER_OTLP_ENDPOINT: env.sinkUrl,
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => TUNABLE.test(k))),
    },
  })
  const { workers } = resolveWorkers(config.receiver.workers, config.otel.protocol)
  const batchEvents = config.receiver.exportBatchSize
  const notes = [`${workers} thread(s), batches of ${batchEvents}`]
  if (workers === 0) throw new Error('RECEIVER_WORKERS=0: the pool scenario needs threads')
  gc()
  const started = performance.now()
  const cpu = process.cpuUsage()
  const pool = new WorkerPool({ size: workers, setup: { mapping: mappingOptions(config) } })
  const parser = new SiemBodyParser(EVENT_TYPES, true)
  const inFlight: Array<Promise<BatchResult>> = []
  let events = 0
  let encodedBytes = 0
  const settle = async (): Promise<void> => {
    const result = await inFlight.shift()!
    if (isParseFailure(result)) throw new Error(result.parseError)
    events += result.ends.length
    encodedBytes += result.bytes.length
  }
  const submit = async (raw: RawEvents | undefined): Promise<void> => {
    if (raw === undefined || raw.ends.length === 0) return
    inFlight.push(pool.run(raw, [0, 0]))
    // (a)'s window run: one batch per thread and the next one read meanwhile.
    if (inFlight.length > workers) await settle()
  }
  try {
    for (let at = 0; at < body.length; at += CHUNK_BYTES) {
      parser.write(body.subarray(at, at + CHUNK_BYTES))
      if (parser.pending >= batchEvents) await submit(parser.drain().raw)
    }
    await submit(parser.end().raw)
    while (inFlight.length > 0) await settle()
  } finally {
    await pool.close()
  }
  return withPeakRss({ variant: 'p', events, bodyBytes: body.length, ms: performance.now() - started, cpuMs: cpuSince(cpu), delivered: events, encodedBytes, notes })
}

/** A scenario's figures with this process's peak RSS, read when it ends. */
function withPeakRss(figures: Omit<ChildResult, 'maxRssBytes' | 'maxRssRusageBytes'>): ChildResult {
  return { ...figures, maxRssBytes: peakRssBytes(), maxRssRusageBytes: process.resourceUsage().maxRSS * 1024 }
}

/** The window's body as the SIEM API front serves it (outside any measured time). */
async function fetchBody(env: ChildEnv): Promise<Buffer> {
  const res = await request(`${env.siemUrl}${WINDOW_PATH}`, { headers: { authorization: AUTHORIZATION } })
  if (res.statusCode !== 200) throw new Error(`the SIEM API front answered ${res.statusCode}`)
  return Buffer.from(await res.body.arrayBuffer())
}

function eventArrays(parsed: unknown): Array<[string, unknown[]]> {
  const out: Array<[string, unknown[]]> = []
  if (parsed === null || typeof parsed !== 'object') throw new Error('the SIEM body is not a JSON object')
  for (const type of EVENT_TYPES) {
    const arr = (parsed as Record<string, unknown>)[type]
    if (Array.isArray(arr)) out.push([type, arr])
  }
  return out
}

/**
 * (b) The floor: JSON.parse of the body, then each event as an OTLP log record whose body is the event's JSON, no
 * attributes, encoded by the same OTLP/protobuf encoder as the receiver's (the fastest one we have: byte for byte the
 * SDK's encoding, several times faster), 512 per request. No HTTP.
 */
async function runFloor(env: ChildEnv): Promise<ChildResult> {
  const body = await fetchBody(env)
  const resourceOpts = { serviceName: 'bench-floor', serviceVersion: VERSION, resourceAttributes: {} }
  const encoder = new OtlpProtoLogsEncoder({ resourceAttributes: buildResource(resourceOpts).attributes, scope: { name: SCOPE_NAME, version: VERSION } })
  gc()
  const started = performance.now()
  const cpu = process.cpuUsage()
  const arrays = eventArrays(JSON.parse(body.toString('utf8')))
  const nowMs = Date.now()
  const observed: [number, number] = [Math.floor(nowMs / 1000), (nowMs % 1000) * 1e6]
  let batch: LogRecordParts[] = []
  let events = 0
  let encodedBytes = 0
  const flush = (): void => {
    if (batch.length === 0) return
    encodedBytes += encoder.encodeRequest(batch).body.length
    batch = []
  }
  for (const [type, events_] of arrays) {
    for (const event of events_) {
      batch.push({ eventName: type, uid: '', observedTimestamp: observed, severityNumber: 0, severityText: '', attributes: {}, body: JSON.stringify(event) })
      events++
      if (batch.length === FLOOR_BATCH) flush()
    }
  }
  flush()
  return withPeakRss({ variant: 'b', events, bodyBytes: body.length, ms: performance.now() - started, cpuMs: cpuSince(cpu), delivered: events, encodedBytes, notes: [] })
}

/** Passes everything to the SDK exporter and counts the records it reports acknowledged. */
class CountingExporter implements LogRecordExporter {
  acknowledged = 0
  failed = 0
  readonly errors: string[] = []
  constructor(private readonly inner: LogRecordExporter) {}
  export(logs: ReadableLogRecord[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(logs, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.acknowledged += logs.length
      else {
        this.failed += logs.length
        if (this.errors.length < 5) this.errors.push(String(result.error))
      }
      resultCallback(result)
    })
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown()
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve()
  }
}

/** The flat attributes a hand-written script would set: the event's top-level scalars, as they are. */
function naiveAttributes(type: string, event: Record<string, unknown>): AnyValueMap {
  const attributes: AnyValueMap = { 'proofpoint.event_type': type }
  for (const [k, v] of Object.entries(event)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attributes[k] = v
  }
  return attributes
}

/**
 * (c) The naive script: whole-body fetch, JSON.parse, LoggerProvider + BatchLogRecordProcessor (defaults) + the
 * SDK's protobuf OTLP exporter, one emit per event, forceFlush. (c2) the same with the processor's queue as large as
 * the window, so that nothing is dropped: what its author does after noticing the drops.
 */
async function runNaive(env: ChildEnv, variant: 'c' | 'c2', expectedEvents: number): Promise<ChildResult> {
  gc()
  const started = performance.now()
  const cpu = process.cpuUsage()
  const exporter = new CountingExporter(new OTLPLogExporter({ url: `${env.sinkUrl}/v1/logs` }))
  const processor = new BatchLogRecordProcessor({ exporter, ...(variant === 'c2' ? { maxQueueSize: Math.max(2048, Math.ceil(expectedEvents * 1.1)) } : {}) })
  const provider = new LoggerProvider({ processors: [processor] })
  const logger = provider.getLogger('naive-siem-script')
  const res = await request(`${env.siemUrl}${WINDOW_PATH}`, { headers: { authorization: AUTHORIZATION } })
  const text = await res.body.text()
  const bodyBytes = Buffer.byteLength(text, 'utf8')
  const arrays = eventArrays(JSON.parse(text))
  let events = 0
  for (const [type, list] of arrays) {
    for (const e of list) {
      const event = e as Record<string, unknown>
      const time = event.messageTime ?? event.clickTime
      logger.emit({
        ...(typeof time === 'string' ? { timestamp: Date.parse(time) } : {}),
        body: JSON.stringify(event),
        attributes: naiveAttributes(type, event),
      })
      events++
    }
  }
  await provider.forceFlush()
  const ms = performance.now() - started
  const cpuMs = cpuSince(cpu)
  await provider.shutdown()
  const notes = exporter.errors.map((e) => `export failed: ${e}`)
  return withPeakRss({ variant, events, bodyBytes, ms, cpuMs, delivered: exporter.acknowledged, notes })
}

export async function runChild(variant: Variant, expectedEvents: number): Promise<ChildResult> {
  const env = childEnv()
  switch (variant) {
    case 'a':
    case 'a2':
    case 'a0':
    case 'w0':
      return runReceiver(env, variant)
    case 'p':
      return runPool(env)
    case 'b':
      return runFloor(env)
    case 'c':
    case 'c2':
      return runNaive(env, variant, expectedEvents)
    case 'idle':
      return runIdle(env)
    case 'sweeps':
      return runSweepsChild(env)
  }
}
