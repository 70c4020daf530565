/**
 * The OTEL_* settings, per the OpenTelemetry specification: the signal-specific variable (`_LOGS_`, `_LOGRECORD_`)
 * wins over the general one, and what neither sets takes the specification's default (defaults.ts).
 */
import { redactUrl } from '../redact.js'
import {
  DEFAULT_OTLP_COMPRESSION,
  DEFAULT_OTLP_GRPC_ENDPOINT,
  DEFAULT_OTLP_HTTP_ENDPOINT,
  DEFAULT_OTLP_PROTOCOL,
  DEFAULT_OTLP_TIMEOUT_MS,
  DEFAULT_SERVICE_NAME,
  OTLP_LOGS_PATH,
} from './defaults.js'
import { checkHttpUrl, quote } from './formats.js'
import { isSet, pickerFor } from './sources.js'
import { MAX_TIMER_MS } from './siem-limits.js'
import type { PickSetting, Report, Resolving, Setting } from './sources.js'
import { resolveOtlpTls } from './tls.js'
import type { ReceiverConfig } from './types.js'

const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const
const OTLP_COMPRESSIONS = ['gzip', 'none'] as const
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const WHOLE_NUMBER = /^\d+$/

/**
 * `key=value,key2=value2` with percent-encoded keys and values (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS).
 * Problems name the entry by position and never quote it: header entries usually hold credentials.
 */
function parseKeyValueList(text: string): { entries: Record<string, string>; problems: string[] } {
  const entries: Record<string, string> = {}
  const problems: string[] = []
  text.split(',').forEach((entry, i) => {
    if (entry.trim() === '') return
    const eq = entry.indexOf('=')
    const key = eq < 0 ? '' : entry.slice(0, eq).trim()
    if (key === '') {
      problems.push(`entry ${i + 1} is not key=value`)
      return
    }
    try {
      entries[decodeURIComponent(key)] = decodeURIComponent(entry.slice(eq + 1).trim())
    } catch {
      problems.push(`entry ${i + 1} is not valid percent-encoding`)
    }
  })
  return { entries, problems }
}

/** The characters Node's HTTP client accepts in a header value. */
const HTTP_HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * The base endpoint with `/v1/logs` appended to its path: before a query (`https://gw/otlp?tenant=a` →
 * `https://gw/otlp/v1/logs?tenant=a`; appended to the text, the path would have gone into the query's last value).
 */
function withLogsPath(base: string, valid: boolean): string {
  if (!valid) return `${base.replace(/\/+$/, '')}${OTLP_LOGS_PATH}`
  const url = new URL(base)
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${OTLP_LOGS_PATH}`
  return url.href
}

/** What is wrong with an endpoint URL: not http(s), or credentials in it. */
function endpointProblem(value: string): string | undefined {
  const problem = checkHttpUrl(value)
  if (problem) return problem
  const url = new URL(value)
  if (url.username !== '' || url.password !== '') {
    return `${quote(value)} must not carry a user name or password: put credentials in OTEL_EXPORTER_OTLP_HEADERS`
  }
  return undefined
}

export function resolveOtel({ raw, sources, report, readFile }: Resolving): ReceiverConfig['otel'] {
  const pick = pickerFor(raw, sources)

  /** The setting's value when it is one of `values`; else (reported when set) `fallback`. */
  const oneOf = <T extends string>(setting: Setting | undefined, values: readonly T[], fallback: T): T => {
    if (!setting) return fallback
    const known = values.find((v) => v === setting.value)
    if (known) return known
    report(setting.name, `${quote(setting.value)} is not one of ${values.join(', ')}`)
    return fallback
  }

  const protocol = oneOf(pick('OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL'), OTLP_PROTOCOLS, DEFAULT_OTLP_PROTOCOL)

  let logsEndpoint = protocol === 'grpc' ? DEFAULT_OTLP_GRPC_ENDPOINT : `${DEFAULT_OTLP_HTTP_ENDPOINT}${OTLP_LOGS_PATH}`
  const endpoint = pick('OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT')
  const insecure = pick('OTEL_EXPORTER_OTLP_INSECURE', 'OTEL_EXPORTER_OTLP_LOGS_INSECURE')
  if (insecure && !/^(true|false)$/i.test(insecure.value)) report(insecure.name, `${quote(insecure.value)} is not true or false`)
  if (endpoint && protocol === 'grpc') {
    logsEndpoint = grpcEndpoint(endpoint, insecure, report) ?? logsEndpoint
  } else if (endpoint) {
    const problem = endpointProblem(endpoint.value)
    if (problem) report(endpoint.name, problem)
    logsEndpoint = endpoint.name === 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT' ? endpoint.value : withLogsPath(endpoint.value, problem === undefined)
  }

  const headers: Record<string, string> = {}
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_LOGS_HEADERS'] as const) {
    if (!isSet(sources, name)) continue
    const list = parseKeyValueList(raw[name])
    for (const problem of list.problems) report(name, problem)
    for (const [key, value] of Object.entries(list.entries)) {
      if (!HTTP_TOKEN.test(key)) report(name, 'an entry has a key that is not a valid HTTP header name')
      else if (protocol !== 'grpc' && !HTTP_HEADER_VALUE.test(value)) {
        // Node's HTTP client would throw ERR_INVALID_CHAR at the first export; the value is never quoted.
        report(name, `the value of ${quote(key)} has characters an HTTP header cannot carry once percent-decoded (control characters such as %0D%0A, or characters beyond Latin-1)`)
      } else headers[key.toLowerCase()] = value
    }
  }
  if (protocol === 'grpc') {
    // gRPC metadata is narrower than HTTP headers (grpc-js refuses the rest); values are never quoted.
    const source = isSet(sources, 'OTEL_EXPORTER_OTLP_LOGS_HEADERS') ? 'OTEL_EXPORTER_OTLP_LOGS_HEADERS' : 'OTEL_EXPORTER_OTLP_HEADERS'
    for (const [key, value] of Object.entries(headers)) {
      if (key.endsWith('-bin')) report(source, `${quote(key)}: gRPC sends keys ending in -bin as binary, which this setting cannot carry`)
      else if (!/^[0-9a-z_.-]+$/.test(key)) report(source, `${quote(key)} is not a valid gRPC metadata key (0-9 a-z _ . -)`)
      else if (!/^[ -~]*$/.test(value)) report(source, `the value of ${quote(key)} has characters gRPC metadata cannot carry (printable ASCII only)`)
    }
  }

  const compression = oneOf(pick('OTEL_EXPORTER_OTLP_COMPRESSION', 'OTEL_EXPORTER_OTLP_LOGS_COMPRESSION'), OTLP_COMPRESSIONS, DEFAULT_OTLP_COMPRESSION)

  let timeoutMs = DEFAULT_OTLP_TIMEOUT_MS
  const timeout = pick('OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT')
  if (timeout) {
    const ms = WHOLE_NUMBER.test(timeout.value) ? Number(timeout.value) : NaN
    if (Number.isSafeInteger(ms) && ms > 0 && ms <= MAX_TIMER_MS) timeoutMs = ms
    else if (ms > MAX_TIMER_MS) report(timeout.name, `${quote(timeout.value)} is more than ${MAX_TIMER_MS} ms (24d): Node's timers cannot wait longer than about 24.8 days`)
    else {
      report(timeout.name, `${quote(timeout.value)} is not a positive whole number of milliseconds (OpenTelemetry timeouts are milliseconds, e.g. 10000)`)
    }
  }

  let resourceAttributes: Record<string, string> = {}
  if (isSet(sources, 'OTEL_RESOURCE_ATTRIBUTES')) {
    const list = parseKeyValueList(raw.OTEL_RESOURCE_ATTRIBUTES)
    for (const problem of list.problems) report('OTEL_RESOURCE_ATTRIBUTES', problem)
    resourceAttributes = list.entries
  }
  const serviceName = raw.OTEL_SERVICE_NAME.trim() || resourceAttributes['service.name'] || DEFAULT_SERVICE_NAME

  const otel: ReceiverConfig['otel'] = { logsEndpoint, protocol, headers, compression, timeoutMs, serviceName, resourceAttributes }
  if (insecure) otel.insecure = insecure.value.toLowerCase() === 'true'
  const tls = resolveOtlpTls(pick, report, readFile)
  if (tls) otel.tls = tls
  const limits = resolveLimits(pick, report)
  if (limits) otel.logRecordLimits = limits
  return otel
}

/**
 * An OTLP/gRPC endpoint as scheme://host:port. The specification allows `host:port` without a scheme for gRPC: then
 * OTEL_EXPORTER_OTLP_[LOGS_]INSECURE decides (true: plaintext, else TLS). A path has no place: the method decides it.
 */
function grpcEndpoint(endpoint: Setting, insecure: Setting | undefined, report: Report): string | undefined {
  let value = endpoint.value
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) value = `${insecure?.value.toLowerCase() === 'true' ? 'http' : 'https'}://${value}`
  const problem = endpointProblem(value)
  if (problem) {
    report(endpoint.name, problem.replace(/start it with https:\/\//, 'start it with http:// (plaintext) or https:// (TLS), or give host:port'))
    return undefined
  }
  const url = new URL(value)
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
    report(endpoint.name, `${quote(redactUrl(value))} has a path or query: an OTLP/gRPC endpoint is scheme://host:port (the method path is fixed); ${OTLP_LOGS_PATH} belongs to OTLP/HTTP`)
    return undefined
  }
  return `${url.protocol}//${url.host}`
}

/**
 * OTEL_LOGRECORD_ATTRIBUTE_{VALUE_LENGTH,COUNT}_LIMIT, else OTEL_ATTRIBUTE_*; unset leaves the SDK default. A message
 * event maps to about 40 flat attributes (up to ~50), a click to about 20, so the default count limit (128) drops
 * nothing; a lower one drops attributes, which the export report counts (droppedAttributes).
 */
function resolveLimits(pick: PickSetting, report: Report): ReceiverConfig['otel']['logRecordLimits'] {
  const whole = (setting: Setting | undefined): number | undefined => {
    if (!setting) return undefined
    const n = WHOLE_NUMBER.test(setting.value) ? Number(setting.value) : NaN
    if (Number.isSafeInteger(n)) return n
    report(setting.name, `${quote(setting.value)} is not a whole number (0 or more)`)
    return undefined
  }
  const limits: NonNullable<ReceiverConfig['otel']['logRecordLimits']> = {}
  const lengthSetting = pick('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT')
  const length = whole(lengthSetting)
  if (length === 0 && lengthSetting) {
    // The JavaScript SDK ignores a limit of 0 (it truncates nothing): refuse it rather than pretend.
    report(lengthSetting.name, '0 would cut every string attribute to nothing (and the OpenTelemetry SDK ignores 0): unset it for no limit, or give a positive length')
  } else if (length !== undefined) limits.attributeValueLengthLimit = length
  const count = whole(pick('OTEL_ATTRIBUTE_COUNT_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT'))
  if (count !== undefined) limits.attributeCountLimit = count
  return Object.keys(limits).length > 0 ? limits : undefined
}
