/**
 * `check-config`: prints every setting with its value and source (secrets redacted), then, unless `--offline`,
 * tries both ends with the receiver's own code:
 * - the SIEM API: one request with the real SiemClient for the last whole minute (1 request of the budget);
 * - the OTLP endpoint: an empty ExportLogsServiceRequest POSTed by the real exporter (configured protocol, headers,
 *   compression, timeout and TLS), which a collector acknowledges without storing anything.
 * Exit code: 0 when the configuration is valid and both checks pass (or were skipped), 1 otherwise.
 */
import { describeConfig, readSecretFile } from '../config/index.js'
import type { LoadedConfig } from '../config/index.js'
import { ReceiverError } from '../errors.js'
import { OtlpHttpLogExporter, classifyFailure, displayEndpoint, toExportError } from '../export/index.js'
import type { OtlpExportResult } from '../export/index.js'
import { otlpRedactor, siemSecretSource } from '../redact.js'
import { SiemClient } from '../siem/client.js'
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

/** Prints the configuration and runs the checks; resolves with the exit code. Never prints the secret. */
export async function checkConfig(loaded: LoadedConfig, opts: CheckConfigOptions): Promise<number> {
  const pp = loaded.config.proofpoint
  const otel = loaded.config.otel
  // Defence in depth: whatever is printed goes through this (the OTLP header values, the endpoint's user info and
  // query values, the SIEM API secret and its Basic token), even though the messages are built not to hold them.
  const redactor = otlpRedactor(otel.logsEndpoint, otel.headers).addBasicCredentials(pp.principal, pp.secret)
  const redact = (text: string): string => redactor.redact(text)
  const rows = describeConfig(loaded)
  const width = Math.max(...rows.map((r) => r.name.length))
  for (const r of rows) opts.stdout.write(redact(`${r.name.padEnd(width)}  ${r.value}  (${r.source})\n`))
  opts.stdout.write('configuration is valid\n')
  if (opts.offline) {
    opts.stdout.write('offline: the SIEM API credentials and the OTLP endpoint were not tried\n')
    return 0
  }

  const getSecret = (): string => {
    const secret = pp.secretFile ? readSecretFile(pp.secretFile) : pp.secret
    redactor.addBasicCredentials(pp.principal, secret)
    return secret
  }
  const secretFile = pp.secretFile
  const siemSecrets = siemSecretSource(pp.principal, pp.secret, secretFile ? () => readSecretFile(secretFile) : undefined)

  const results: CheckResult[] = []
  for (const check of [() => checkSiemApi(loaded, getSecret, opts.now ?? Date.now), () => checkOtlpEndpoint(loaded, siemSecrets)]) {
    const r = await check()
    results.push(r)
    opts.stdout.write(`${redact(r.line)}\n`)
  }
  const failed = results.filter((r) => !r.ok).length
  if (failed > 0) {
    opts.stderr.write(`${NAME}: check-config: ${failed} of ${results.length} checks failed (see above)\n`)
    return 1
  }
  return 0
}

/** One request for the minute before the last whole minute boundary; reports the answer or the typed error. */
async function checkSiemApi(loaded: LoadedConfig, getSecret: () => string, now: () => number): Promise<CheckResult> {
  const pp = loaded.config.proofpoint
  const budgetNote = `used 1 of the ${pp.requestBudget} SIEM API requests allowed per 24 h (PROOFPOINT_REQUEST_BUDGET)`
  const end = Math.floor(now() / MINUTE_MS) * MINUTE_MS
  const window = { start: new Date(end - MINUTE_MS), end: new Date(end) }
  let client: SiemClient | undefined
  try {
    client = new SiemClient({
      baseUrl: pp.baseUrl,
      principal: pp.principal,
      getSecret,
      eventTypes: pp.eventTypes,
      ...(pp.threatStatus ? { threatStatus: pp.threatStatus } : {}),
      ...(pp.threatType ? { threatType: pp.threatType } : {}),
      timeoutMs: pp.requestTimeoutMs,
      ...(pp.ca ? { ca: pp.ca } : {}),
    })
    const result = await client.fetchWindow(window)
    const events = EVENT_TYPES.reduce((n, t) => n + result.response.events[t].length, 0)
    return {
      ok: true,
      line: `SIEM API: credentials accepted (HTTP ${result.status}, ${events} event${events === 1 ? '' : 's'} in the last minute); ${budgetNote}`,
    }
  } catch (err) {
    const what =
      err instanceof ReceiverError
        ? `${withoutRetryNote(err.message)} [${err.code}]`
        : `unexpected failure: ${err instanceof Error ? err.message : String(err)}`
    return { ok: false, line: `SIEM API: FAILED: ${what}; ${budgetNote}` }
  } finally {
    await client?.close().catch(() => undefined)
  }
}

/** POSTs an empty ExportLogsServiceRequest (protobuf: zero bytes; JSON: `{"resourceLogs":[]}`), once, no retries. */
async function checkOtlpEndpoint(loaded: LoadedConfig, siemSecrets: () => string[]): Promise<CheckResult> {
  const otel = loaded.config.otel
  const where = `${displayEndpoint(otel.logsEndpoint)}, ${otel.protocol}`
  let exporter: OtlpHttpLogExporter | undefined
  try {
    exporter = new OtlpHttpLogExporter({
      url: otel.logsEndpoint,
      protocol: otel.protocol,
      headers: otel.headers,
      compression: otel.compression,
      timeoutMillis: otel.timeoutMs,
      userAgent: `${NAME}/${VERSION}`,
      ...(otel.tls && otel.logsEndpoint.startsWith('https:') ? { tls: otel.tls } : {}),
      // A check answers once: the receiver retries, check-config reports.
      retry: { maxRetries: 0 },
      otherSecrets: siemSecrets,
    })
    const result: OtlpExportResult = await exporter.send([])
    if (result.error === undefined) {
      return { ok: true, line: `OTLP endpoint: answered ${result.status ?? '2xx'} to an empty export request (${where})` }
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
    let message = withoutRetryNote(error.message)
    if (classifyFailure(result.error) === 'rejected') {
      message += ' (the endpoint is reachable but refused even an empty request)'
    }
    return { ok: false, line: `OTLP endpoint: FAILED: ${message} [${error.code}] (${where})` }
  } catch (err) {
    return { ok: false, line: `OTLP endpoint: FAILED: ${err instanceof Error ? err.message : String(err)} (${where})` }
  } finally {
    await exporter?.shutdown().catch(() => undefined)
  }
}

/** The SIEM API and export messages are written for the running receiver ("; will retry"); a check does not retry. */
function withoutRetryNote(message: string): string {
  return message.replace(/;? ?will retry( with backoff)?$/, '')
}
