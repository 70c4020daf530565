/** Config and injected parts → a running receiver. No process globals: tests run it in-process, main.ts adds them. */
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { AUTH_BACKOFF, DEFAULT_BACKOFF } from './backoff.js'
import type { BackoffPolicy } from './backoff.js'
import type { ReceiverConfig } from './config/types.js'
import { ConfigError, EXIT_CONFIG, ReceiverError, StateError } from './errors.js'
import { createExportPipeline } from './export/index.js'
import type { ExportPipeline } from './export/index.js'
import type { MappedRecord } from './mapping/types.js'
import { ReceiverMetrics } from './ops/metrics.js'
import { buildOpsServer, closeOpsServer, listenOpsServer } from './ops/server.js'
import { Poller } from './poller/index.js'
import type { BatchMapper, RecordSink } from './poller/index.js'
import { ApiClock, monotonicNow } from './siem/api-clock.js'
import { SiemClient } from './siem/client.js'
import { SWEEP_SPAN_MS, sweepAges } from './siem/sweeps.js'
import { mappingOptions, recordOptions, siemClientOptions, siemSecrets } from './config/index.js'
import { FileStateStore, StateDirLock, stateSource, sweepSpanFor } from './state/index.js'
import type { StateStore } from './state/index.js'
import { ReceiverStatus } from './status/index.js'
import { VERSION } from './version.js'
import { resolveWorkers } from './workers/cpus.js'
import { WorkerPool } from './workers/pool.js'
import { inThreadMapper } from './workers/in-thread.js'
import type { WorkerSetup } from './workers/encode-batch.js'

export interface AppDeps {
  logger: Logger
  /** The wall clock (epoch ms). */
  clock?: () => number
  /** A clock that never jumps (ms), for waits and liveness; must advance with `sleep`. */
  monotonic?: () => number
  /** Replaces the OTLP export pipeline (the demo's printer, tests). Records are then mapped in the main thread. */
  sink?: RecordSink
  store?: StateStore
  /** Told the records exported (the demo prints them): records are then mapped in the main thread. */
  onExported?: (records: readonly MappedRecord[]) => void
  /** RECEIVER_WORKERS=auto's CPU count (tests). */
  cpus?: () => number
  /** The worker threads' entry module and extra workerData (tests: a thread that dies on cue). */
  workerEntry?: { url: URL; data?: Record<string, unknown> }
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

export interface App {
  readonly status: ReceiverStatus
  readonly metrics: ReceiverMetrics
  readonly ops: FastifyInstance
  /**
   * Checks the state directory, listens on the ops port, takes the state directory's lock (waiting as a standby
   * while another receiver holds it), starts polling. Aborting `signal` ends a standby wait: start() then resolves
   * with `polling: false`; call shutdown(). `workers`: the worker threads it maps with (0: the main thread).
   */
  start(opts?: { signal?: AbortSignal }): Promise<{ opsAddress: string; polling: boolean; workers: number }>
  /** Stops polling (the in-flight window is abandoned, the cursor stays), closes the ops server and the exporter. Idempotent. */
  shutdown(): Promise<void>
  /** What a shutdown under way is waiting for (undefined before it starts and once it is done): said when it takes too long. */
  shutdownStep(): string | undefined
}

/**
 * A start that failed (createApp or App.start), logged as `run` and `demo` report it. The exit code: 78 for what the
 * operator fixes (a setting, the state directory, the ops address), else 1.
 */
export function startFailed(logger: Logger, err: unknown): number {
  logger.fatal({ err: err instanceof ReceiverError ? { code: err.code, message: err.message } : err }, 'could not start')
  return err instanceof ConfigError || (err instanceof ReceiverError && err.code === 'PSR_ERR_STATE') ? EXIT_CONFIG : 1
}

/** Backoff policies up to the operator's cap (RECEIVER_RETRY_MAX_BACKOFF), which also caps a server's Retry-After. */
function retryPolicies(maxMs: number): { backoff: BackoffPolicy; authBackoff: BackoffPolicy } {
  const cap = (p: BackoffPolicy): BackoffPolicy => ({ initialMs: Math.min(p.initialMs, maxMs), maxMs })
  return { backoff: cap(DEFAULT_BACKOFF), authBackoff: cap(AUTH_BACKOFF) }
}

export function createApp(config: ReceiverConfig, deps: AppDeps): App {
  const clock = deps.clock ?? Date.now
  const monotonic = deps.monotonic ?? monotonicNow
  // The SIEM API's clock, from the Date header of its answers: windows are planned by it.
  const apiClock = new ApiClock(clock, monotonic)
  const { logger } = deps
  const status = new ReceiverStatus({
    startedAt: clock(),
    startedMono: monotonic(),
    noEventsAlertAfterMs: config.receiver.noEventsAlertAfterMs,
    pollIntervalMs: config.receiver.pollIntervalMs,
    longestCallMs: Math.max(config.proofpoint.requestTimeoutMs, config.otel.timeoutMs),
    eventTypes: config.proofpoint.eventTypes,
    version: VERSION,
    noEventsFailsReadiness: config.receiver.noEventsFailsReadiness,
    monotonic,
    apiNow: () => apiClock.now(),
  })
  const client = new SiemClient(siemClientOptions(config, { onServerDate: (ms) => apiClock.observe(ms) }))
  let pipeline: ExportPipeline | undefined
  const sink =
    deps.sink ??
    (pipeline = createExportPipeline({
      endpoint: config.otel.logsEndpoint,
      protocol: config.otel.protocol,
      headers: config.otel.headers,
      compression: config.otel.compression,
      timeoutMs: config.otel.timeoutMs,
      ...recordOptions(config),
      maxBatchSize: config.receiver.exportBatchSize,
      maxConcurrency: config.receiver.exportConcurrency,
      ...(config.otel.tls ? { tls: config.otel.tls } : {}),
      ...(config.otel.proxy ? { proxy: config.otel.proxy.url } : {}),
      grpcLog: (message) => deps.logger.warn({ component: 'grpc-js' }, message),
      // Never quoted from a collector's answer either.
      otherSecrets: siemSecrets(config),
    }))
  // Batches are encoded ahead (in threads, or here) for our protobuf encoder only: an injected sink, the demo's
  // printer or the SDK's OTLP/JSON read the records' parts.
  const readsParts = deps.sink !== undefined || deps.onExported !== undefined || config.otel.protocol === 'http/json'
  const threads = deps.sink || deps.onExported ? { workers: 0, why: 'records read in the main thread' } : resolveWorkers(config.receiver.workers, config.otel.protocol, deps.cpus)
  const limits = config.otel.logRecordLimits
  const setup: WorkerSetup = {
    mapping: mappingOptions(config),
    ...(limits?.attributeCountLimit === undefined ? {} : { attributeCountLimit: limits.attributeCountLimit }),
    ...(limits?.attributeValueLengthLimit === undefined ? {} : { attributeValueLengthLimit: limits.attributeValueLengthLimit }),
  }
  const pool =
    threads.workers > 0
      ? new WorkerPool({ size: threads.workers, setup, ...(deps.workerEntry ? { entry: deps.workerEntry.url, extraData: deps.workerEntry.data ?? {} } : {}) })
      : undefined
  const workers: BatchMapper | undefined = pool ?? (readsParts ? undefined : inThreadMapper(setup))
  if (pool) status.setWorkers(() => ({ threads: pool.size, running: pool.threads, restarts: pool.deaths }))
  const metrics = new ReceiverMetrics({ status, now: clock })
  let fileStore: FileStateStore | undefined
  const files = deps.store ?? (fileStore = new FileStateStore(config.receiver.stateDir))
  // One receiver per state directory: a second one on it waits as a standby (src/state/lock.ts).
  const stateLock = fileStore ? new StateDirLock(config.receiver.stateDir) : undefined
  const store = stateLock ? lockedStore(files, stateLock, logger) : files
  const standby = new AbortController()
  let lockWait: Promise<boolean> | undefined
  const poller = new Poller(
    {
      pollIntervalMs: config.receiver.pollIntervalMs,
      startLookbackMs: config.receiver.startLookbackMs,
      source: stateSource(config.proofpoint),
      overlapMs: config.receiver.overlapMs,
      // Config validation refused settings where no span fits; a test's config may skip it (then the usual span).
      sweepSpanMs: sweepSpanFor(config.receiver.pollIntervalMs, config.proofpoint.requestBudget, sweepAges(config.receiver.overlapMs).length) ?? SWEEP_SPAN_MS,
      requestBudget: config.proofpoint.requestBudget,
      exportBatchSize: config.receiver.exportBatchSize,
      windowTargets: { maxEvents: config.receiver.windowMaxEvents, maxBytes: config.receiver.windowMaxBytes },
      ...retryPolicies(config.receiver.retryMaxBackoffMs),
      mapping: mappingOptions(config),
    },
    {
      source: client,
      sink,
      store,
      status,
      logger,
      clock,
      monotonic,
      apiClock,
      metrics,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      ...(deps.onExported ? { onExported: deps.onExported } : {}),
      ...(workers ? { workers } : {}),
    },
  )
  const ops = buildOpsServer({
    status,
    now: clock,
    monotonic,
    logger,
    metrics,
    ...(config.receiver.httpAuthToken !== undefined ? { authToken: config.receiver.httpAuthToken } : {}),
  })
  let shuttingDown: Promise<void> | undefined
  let step: string | undefined
  const during = <T>(what: string, p: Promise<T> | undefined): Promise<T> | undefined => {
    step = what
    return p
  }
  /** False when the wait was ended (shutdown, or `signal`) before the lock was taken. */
  const takeStateDirLock = async (signal: AbortSignal | undefined): Promise<boolean> => {
    if (!stateLock) return true
    lockWait = stateLock.acquire({
      signal: signal ? AbortSignal.any([standby.signal, signal]) : standby.signal,
      logger,
      onStandby: (reason) => status.setStandby(reason),
    })
    const acquired = await lockWait
    status.setStandby(undefined, { mono: monotonic(), wall: clock() })
    if (!acquired || shuttingDown) logger.info('stop requested while waiting for the lock on RECEIVER_STATE_DIR (a standby, or a flock the file system has not answered): not polling')
    return acquired && !shuttingDown
  }

  return {
    status,
    metrics,
    ops,
    async start(opts = {}) {
      if (fileStore) {
        try {
          await fileStore.init()
          status.setStateDirOk(true)
        } catch (err) {
          status.setStateDirOk(false, err instanceof Error ? err.message : String(err))
          throw err
        }
      }
      const opsAddress = await listenOpsServer(ops, config.receiver.httpHost, config.receiver.httpPort)
      logger.info({ address: opsAddress }, 'ops server listening')
      logger.info({ workers: threads.workers, why: threads.why }, threads.workers > 0 ? 'events are parsed, mapped and encoded in worker threads' : 'events are parsed, mapped and encoded in the main thread')
      try {
        if (!(await takeStateDirLock(opts.signal))) return { opsAddress, polling: false, workers: threads.workers }
        await fileStore?.removeLeftovers()
        await poller.start()
      } catch (err) {
        await closeOpsServer(ops)
        throw err
      }
      return { opsAddress, polling: true, workers: threads.workers }
    },
    shutdown() {
      shuttingDown ??= (async () => {
        status.setPhase('stopping')
        standby.abort()
        // Abort the loop first, then release an export stuck on a hanging collector: the window in flight is
        // abandoned and the cursor stays where it is.
        const stopped = poller.stop()
        await during('the OTLP exporter to release its requests in flight', pipeline?.shutdown())
        await during('the poll loop to stop (a SIEM API request or a state write in flight)', stopped)
        await during('the worker threads to exit', pool?.close())
        // Only now may another receiver take over: this one's last state write is done.
        await during('the wait for the state directory lock to end (its flock command)', lockWait?.catch(() => false))
        await during('the state directory lock to be released', stateLock?.release())
        await during('the ops server to close its connections', closeOpsServer(ops))
        await during('the SIEM API connection to close', client.close())
        step = undefined
      })()
      return shuttingDown
    },
    shutdownStep: () => step,
  }
}

/**
 * The state store, written only while this receiver's lock is the lock on RECEIVER_STATE_DIR/.lock: someone deleting
 * the lock file or the directory would otherwise let a second receiver take a new lock and poll beside this one.
 */
function lockedStore(files: StateStore, lock: StateDirLock, logger: Logger): StateStore {
  return {
    load: () => files.load(),
    async save(state) {
      const verdict = await lock.verify()
      if (verdict === 'lost') {
        throw new StateError(
          `the lock file "${lock.path}" was deleted or replaced while this receiver ran, and another receiver holds the new one: this receiver does not write the state (it retries, and takes over if that one stops); do not delete the lock file or RECEIVER_STATE_DIR while a receiver runs`,
        )
      }
      if (verdict === 'retaken') {
        logger.error({ lockFile: lock.path }, 'the lock file (or RECEIVER_STATE_DIR) was deleted or replaced while this receiver ran: locked again; do not delete it while a receiver runs')
      }
      await files.save(state)
    },
  }
}
