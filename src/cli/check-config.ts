/**
 * `check-config`: prints every setting with its value and source, checks the state directory as `run` does at start,
 * then, unless `--offline`, tries both ends with the receiver's own code: one SIEM API request for the last whole
 * minute, and an empty export request, which a collector acknowledges without storing anything.
 *
 * Redaction is by field: the secret's row shows `[redacted]` (describeConfig), and what this command writes itself is
 * printed as is. Searching the printed text for the secret would replace every occurrence of a short or common
 * secret (`1m`, `json`, `1800`) in other settings' values, which garbles the output and shows where the secret is.
 * Only text quoted from the other end (the SIEM API's and the collector's answers) has the credentials redacted, by
 * those who quote it.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { describeConfig, siemClientOptions, siemSecrets } from '../config/index.js'
import type { LoadedConfig } from '../config/index.js'
import { ReceiverError } from '../errors.js'
import { OtlpGrpcLogExporter, OtlpHttpLogExporter, classifyFailure, displayEndpoint, toExportError } from '../export/index.js'
import type { OtlpExporterBase } from '../export/index.js'
import { otlpRedactor } from '../redact.js'
import { SiemClient } from '../siem/client.js'
import { FileStateStore, RequestBudget, checkStateTimes, describeRequestPlan, sourceChanges, stateSource } from '../state/index.js'
import { resolveWorkers } from '../workers/cpus.js'
import { nodeFlags } from '../node-flags.js'
import { EVENT_TYPES } from '../siem/types.js'
import { NAME, VERSION } from '../version.js'

interface Out {
  write(text: string): unknown
}

export interface CheckConfigOptions {
  /** Skip both network checks: print and validate the configuration only. */
  offline: boolean
  stdout: Out
  stderr: Out
  /** Epoch ms (tests); `Date.now` by default. */
  now?: () => number
}

interface CheckResult {
  ok: boolean
  line: string
}

const MINUTE_MS = 60_000

/** Resolves with the exit code: 0 when every check passes (or was skipped), else 1. */
export async function checkConfig(loaded: LoadedConfig, opts: CheckConfigOptions): Promise<number> {
  const pp = loaded.config.proofpoint
  const otel = loaded.config.otel
  const now = opts.now ?? Date.now
  const rows = describeConfig(loaded)
  const width = Math.max(...rows.map((r) => r.name.length))
  for (const r of rows) opts.stdout.write(`${r.name.padEnd(width)}  ${r.value}  (${r.source})\n`)
  opts.stdout.write('configuration is valid\n')
  const plan = describeRequestPlan(loaded.config.receiver.pollIntervalMs, pp.requestBudget, loaded.config.receiver.overlapMs)
  if (plan !== undefined) opts.stdout.write(`${plan}\n`)
  const { workers, why } = resolveWorkers(loaded.config.receiver.workers, loaded.config.otel.protocol)
  opts.stdout.write(`events are parsed, mapped and encoded in ${workers > 0 ? `${workers} worker thread${workers === 1 ? '' : 's'}` : 'the main thread'} (${why})\n`)
  const flags = nodeFlags(process.version, workers)
  opts.stdout.write(`node options for that on this Node (${process.version}): ${flags.length > 0 ? flags.join(' ') : 'none'} (the image and npm start choose them; \`node dist/src/node-flags.js run\` prints them)\n`)

  const results: CheckResult[] = []
  const report = (r: CheckResult): void => {
    results.push(r)
    opts.stdout.write(`${r.line}\n`)
  }
  const stateDir = await checkStateDir(loaded, now)
  report(stateDir)
  if (opts.offline) {
    opts.stdout.write('offline: the SIEM API credentials and the OTLP endpoint were not tried\n')
    return summary(results, opts)
  }

  // For a failure that is not one of the typed errors: its message may quote the other end.
  const unexpectedRedactor = otlpRedactor(otel.logsEndpoint, otel.headers).addBasicCredentials(pp.principal, pp.secret)
  const secrets = siemSecrets(loaded.config)
  unexpectedRedactor.addSource(secrets)
  const redactUnexpected = (text: string): string => unexpectedRedactor.redact(text)

  report(await checkSiemApi(loaded, now, redactUnexpected, stateDir.saved ?? new RequestBudget(pp.requestBudget)))
  report(await checkOtlpEndpoint(loaded, secrets, redactUnexpected))
  return summary(results, opts)
}

function summary(results: CheckResult[], opts: CheckConfigOptions): number {
  const failed = results.filter((r) => !r.ok).length
  if (failed === 0) return 0
  opts.stderr.write(`${NAME}: check-config: ${failed} of ${results.length} checks failed (see above)\n`)
  return 1
}

/** A failure as a line's text: typed errors with their code; anything else as unexpected, its message redacted. */
function failureText(err: unknown, redact: (text: string) => string = (text) => text): string {
  if (err instanceof ReceiverError) return `${err.message} [${err.code}]`
  return `unexpected failure: ${redact(err instanceof Error ? err.message : String(err))}`
}

/**
 * The state directory as `run` finds it at start (FileStateStore.init, then load and the clock check the poller
 * makes): the same StateError message, so what `run` would refuse is refused here. `init` creates the directory
 * when it is missing, as `run` would. The directory's lock is not tried: a running receiver holds it.
 */
async function checkStateDir(loaded: LoadedConfig, now: () => number): Promise<CheckResult & { saved?: RequestBudget }> {
  const dir = loaded.config.receiver.stateDir
  const store = new FileStateStore(dir)
  try {
    await store.init()
    const state = await store.load()
    if (!state) return { ok: true, line: `state directory: ${dir} is writable; no state file yet (the first run starts RECEIVER_START_LOOKBACK back)` }
    const { warnings, state: checked } = checkStateTimes(state, now())
    // As `run` counts them: request times ahead of the clock taken as now.
    const saved = new RequestBudget(loaded.config.proofpoint.requestBudget, checked.apiRequests)
    const requests = saved.used(now())
    const changes = sourceChanges(state.source, stateSource(loaded.config.proofpoint), state.cursor)
    const notes = [...warnings, ...changes].map((w) => `; warning: ${w}`).join('')
    return {
      ok: true,
      saved,
      line: `state directory: ${dir} is writable; ${store.path}: cursor ${state.cursor}, ${requests} SIEM API request${requests === 1 ? '' : 's'} in the last 24 h${notes}`,
    }
  } catch (err) {
    return { ok: false, line: `state directory: FAILED: ${failureText(err)}` }
  }
}

/**
 * One request for the minute before the last whole minute boundary; reports the answer or the typed error, and
 * whether the request went out (it counts against the budget only then: not when the name did not resolve or the
 * connection was refused). `budget`: the requests in the state file, which the API counts too: with the budget used
 * up, no request is made (the API would answer 429, or a running receiver find its budget short).
 */
async function checkSiemApi(loaded: LoadedConfig, now: () => number, redactUnexpected: (text: string) => string, budget: RequestBudget): Promise<CheckResult> {
  const pp = loaded.config.proofpoint
  const saved = budget.used(now())
  const allowedAt = budget.nextAllowedAt(now())
  if (allowedAt > now()) {
    return {
      ok: true,
      line: `SIEM API: not tried: the state file shows ${saved} requests in the last 24 h, the whole PROOFPOINT_REQUEST_BUDGET (${pp.requestBudget}); one more would be refused (429) or taken from the receiver's budget. Run check-config --offline, or again after ${new Date(allowedAt).toISOString()}, when the oldest ages out`,
    }
  }
  const sent = watchRequestSent(pp.baseUrl)
  const used = saved > 0 ? `${saved + 1} of the ${pp.requestBudget} SIEM API requests allowed per 24 h (PROOFPOINT_REQUEST_BUDGET) are used, counting the ${saved} in the state file` : `used 1 of the ${pp.requestBudget} SIEM API requests allowed per 24 h (PROOFPOINT_REQUEST_BUDGET)`
  // A running receiver counts only the requests in its state file: this one is not among them.
  const budgetNote = (): string =>
    sent.seen()
      ? `${used}; a running receiver does not count this one`
      : `no request reached the SIEM API: none of the ${pp.requestBudget} requests allowed per 24 h (PROOFPOINT_REQUEST_BUDGET) was used`
  const end = Math.floor(now() / MINUTE_MS) * MINUTE_MS
  const window = { start: new Date(end - MINUTE_MS), end: new Date(end) }
  let client: SiemClient | undefined
  try {
    client = new SiemClient(siemClientOptions(loaded.config))
    const result = await client.fetchWindow(window)
    const events = EVENT_TYPES.reduce((n, t) => n + result.response.events[t].length, 0)
    return {
      ok: true,
      line: `SIEM API: credentials accepted (HTTP ${result.status}, ${events} event${events === 1 ? '' : 's'} in the last minute); ${budgetNote()}`,
    }
  } catch (err) {
    // The SIEM client's errors quote the API's answer with the credentials already redacted.
    return { ok: false, line: `SIEM API: FAILED: ${failureText(err, redactUnexpected)}; ${budgetNote()}` }
  } finally {
    sent.stop()
    await client?.close().catch(() => undefined)
  }
}

/**
 * Whether undici wrote a request's headers to a connection to `baseUrl`'s origin since the call (undici's
 * `undici:client:sendHeaders` diagnostics channel). Nothing is written when the name does not resolve, the
 * connection is refused or the TLS handshake fails.
 */
function watchRequestSent(baseUrl: string): { seen(): boolean; stop(): void } {
  const origin = safeOrigin(baseUrl) ?? baseUrl
  let seen = false
  const onMessage = (message: unknown): void => {
    // undici keeps the origin as given to the pool: a string or a URL.
    const from = (message as { request?: { origin?: string | URL } } | undefined)?.request?.origin
    if (from === undefined || safeOrigin(from) === origin) seen = true
  }
  subscribe('undici:client:sendHeaders', onMessage)
  return {
    seen: () => seen,
    stop: () => {
      unsubscribe('undici:client:sendHeaders', onMessage)
    },
  }
}

function safeOrigin(url: string | URL): string | undefined {
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}

/** POSTs an empty ExportLogsServiceRequest (protobuf: zero bytes; JSON: `{"resourceLogs":[]}`), once, no retries. */
async function checkOtlpEndpoint(loaded: LoadedConfig, siemSecrets: () => string[], redactUnexpected: (text: string) => string): Promise<CheckResult> {
  const otel = loaded.config.otel
  const where = `${displayEndpoint(otel.logsEndpoint)}, ${otel.protocol}`
  let exporter: OtlpExporterBase | undefined
  try {
    const transport = {
      url: otel.logsEndpoint,
      headers: otel.headers,
      compression: otel.compression,
      timeoutMillis: otel.timeoutMs,
      userAgent: `${NAME}/${VERSION}`,
      ...(otel.tls && otel.logsEndpoint.startsWith('https:') ? { tls: otel.tls } : {}),
      ...(otel.proxy ? { proxy: otel.proxy.url } : {}),
      // A check answers once: the receiver retries, check-config reports.
      retry: { maxRetries: 0 },
      otherSecrets: siemSecrets,
    }
    exporter = otel.protocol === 'grpc' ? new OtlpGrpcLogExporter(transport) : new OtlpHttpLogExporter({ ...transport, protocol: otel.protocol })
    const result = await exporter.send([])
    if (result.error === undefined) {
      return { ok: true, line: `OTLP endpoint: answered ${result.status ?? 'OK'} to an empty export request (${where})` }
    }
    const error = toExportError(result.error, {
      endpoint: otel.logsEndpoint,
      timeoutMs: otel.timeoutMs,
      batch: 1,
      batches: 1,
      records: 0,
      bytes: result.bytes,
      redact: (text) => exporter?.redactor.redact(text) ?? text,
    })
    const refused = classifyFailure(result.error) === 'rejected' ? ' (the endpoint is reachable but refused even an empty request)' : ''
    return { ok: false, line: `OTLP endpoint: FAILED: ${error.message}${refused} [${error.code}] (${where})` }
  } catch (err) {
    return { ok: false, line: `OTLP endpoint: FAILED: ${redactUnexpected(err instanceof Error ? err.message : String(err))} (${where})` }
  } finally {
    await exporter?.shutdown().catch(() => undefined)
  }
}
