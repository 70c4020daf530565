/**
 * Loading: defaults < config file < environment, then validation that reports every problem at once.
 * Pure apart from `readFile` (injected for tests); the caller passes the environment in.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseYaml, YAMLError } from 'yaml'
import { ConfigError } from '../errors.js'
import { EVENT_TYPES } from '../siem/types.js'
import type { EventType } from '../siem/types.js'
import { formatDuration } from './duration.js'
import { CONFIG_VARIABLES, SENSITIVE_VARIABLES, THREAT_STATUSES, checkHttpUrl, createConvict, fileValueKind, isConfigVariable, quote, redactUrl } from './schema.js'
import type { ConfigVariable, RawConfig } from './schema.js'
import { proxyFor } from '../proxy.js'
import type { ConfigSource, ReceiverConfig } from './types.js'

export interface LoadOptions {
  /** The environment (main passes process.env). Unknown variables are ignored. */
  env: Record<string, string | undefined>
  /** `--config FILE`: wins over RECEIVER_CONFIG_FILE. */
  configFile?: string
  /** Reads a config, secret or certificate file as UTF-8 text; defaults to fs.readFileSync. */
  readFile?: (path: string) => string
}

export interface LoadedConfig {
  config: ReceiverConfig
  /** Where each variable's value came from, for every name in CONFIG_VARIABLES. */
  sources: Record<string, ConfigSource>
  /** The config file that was read, if any. */
  configFile?: string
  /** The TLS file paths as given (for check-config); the files' contents are in `config.otel.tls`. */
  tlsFiles?: Partial<Record<TlsVariable, string>>
}

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

// SIEM API limits (see design §2): a window is at least 30 s and at most 1 h; its start at most 7 days back.
const MIN_POLL_INTERVAL_MS = 30 * SECOND
const MAX_START_LOOKBACK_MS = 7 * DAY
/** The overlap is re-asked together with new data in one request of at most 1 h; leave a minute for new data. */
const MAX_OVERLAP_MS = 59 * MINUTE
/** Retrying more often than once a second gains nothing and burns the SIEM API's request budget. */
const MIN_RETRY_MAX_BACKOFF_MS = SECOND
/**
 * The share of PROOFPOINT_REQUEST_BUDGET steady-state polling may use, in tenths: the other 10 % is kept for
 * retries (429, 5xx, timeouts) and for catch-up after downtime, which walk extra windows.
 */
const POLLING_SHARE_OF_BUDGET_TENTHS = 9
const BUDGET_PERIOD_MS = DAY

/** Windows are whole minutes: the poller never starts more than one poll per minute, however short the interval. */
const WINDOW_GRANULARITY_MS = MINUTE

/**
 * The start-up request budget check. Caught up, the receiver polls when max(previous poll start + interval, the next
 * whole minute after the cursor) has come, so an interval under a minute still polls once a minute: it makes
 * ceil(24 h / max(interval, 1m)) requests per rolling 24 h, and that must fit in 90 % of PROOFPOINT_REQUEST_BUDGET
 * (the rest is kept for retries and catch-up). Returns the problem, naming both settings and the shortest interval
 * that fits. The budget is per credential and endpoint pool (clicks/permitted has its own); one receiver uses one pool.
 */
export function checkRequestBudget(pollIntervalMs: number, budget: number): string | undefined {
  const every = Math.max(pollIntervalMs, WINDOW_GRANULARITY_MS)
  const perDay = Math.ceil(BUDGET_PERIOD_MS / every)
  const usable = Math.floor((budget * POLLING_SHARE_OF_BUDGET_TENTHS) / 10)
  if (perDay <= usable) return undefined
  const pace = pollIntervalMs < WINDOW_GRANULARITY_MS ? ' (windows are whole minutes: at most one poll a minute)' : ''
  const over = `${formatDuration(pollIntervalMs)} means ${perDay} requests per 24 h${pace}, over the ${usable} that polling may use of PROOFPOINT_REQUEST_BUDGET=${budget} (10 % is kept for retries and catch-up)`
  if (usable < 1) return `${over}; no interval fits: raise PROOFPOINT_REQUEST_BUDGET to at least 2`
  // The shortest interval with ceil(24 h / max(interval, 1m)) <= usable, in whole seconds. perDay > usable means
  // usable < 1440, so it is over a minute: a shorter one polls once a minute, which is what does not fit.
  const minimum = Math.ceil(BUDGET_PERIOD_MS / usable / SECOND) * SECOND
  return `${over}; use at least ${formatDuration(minimum)} or raise PROOFPOINT_REQUEST_BUDGET to at least ${Math.ceil((perDay * 10) / POLLING_SHARE_OF_BUDGET_TENTHS)}`
}

// OpenTelemetry specification defaults (OTLP exporter configuration, resource SDK).
const DEFAULT_OTLP_BASE = 'http://localhost:4318'
const DEFAULT_OTLP_GRPC_ENDPOINT = 'http://localhost:4317'
const LOGS_PATH = '/v1/logs'
const DEFAULT_OTLP_TIMEOUT_MS = 10_000
const DEFAULT_SERVICE_NAME = 'proofpoint-siem-receiver'
const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const
const OTLP_COMPRESSIONS = ['gzip', 'none'] as const
/** The SDK's default attribute count limit (OTEL_ATTRIBUTE_COUNT_LIMIT); the value length is unlimited by default. */
const DEFAULT_ATTRIBUTE_COUNT_LIMIT = 128

/** An empty value means unset (as OpenTelemetry says), except where "empty" is itself the mistake to report. */
const EMPTY_IS_A_VALUE: ReadonlySet<ConfigVariable> = new Set<ConfigVariable>([
  'PROOFPOINT_PRINCIPAL',
  'PROOFPOINT_SECRET',
  'PROOFPOINT_SECRET_FILE',
  // Set but empty is a mistake: the operator meant to protect the ops server, so do not silently leave it open.
  'RECEIVER_HTTP_AUTH_TOKEN_FILE',
])

const REDACTED = '[redacted]'
const UNSET = '(unset)'

const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const WHOLE_NUMBER = /^\d+$/

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8')
}

/** The error's code (ENOENT, EACCES, ...) or message: never file contents. */
function fsReason(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return err instanceof Error ? err.message : String(err)
}

function secretFromFile(
  path: string,
  readFile: (path: string) => string,
  name: ConfigVariable = 'PROOFPOINT_SECRET_FILE',
): { secret: string } | { problem: string } {
  let text: string
  try {
    text = readFile(path)
  } catch (err) {
    return { problem: `${name}: cannot read ${quote(path)} (${fsReason(err)})` }
  }
  const secret = text.trimEnd()
  if (secret.trim() === '') return { problem: `${name}: ${quote(path)} is empty` }
  return { secret }
}

/**
 * The secret held in `path`, trailing newline and whitespace removed (Kubernetes Secret volumes and `echo` add one).
 * The SIEM client calls it for every request, so a rotated secret is picked up. Throws ConfigError; the message never
 * contains the file's contents.
 */
export function readSecretFile(path: string, readFile: (path: string) => string = defaultReadFile): string {
  const result = secretFromFile(path, readFile)
  if ('problem' in result) throw new ConfigError([result.problem])
  return result.secret
}

/** The receiver's variables from the environment, unset and (mostly) empty ones left out. */
function settingsFromEnv(env: Record<string, string | undefined>): Partial<Record<ConfigVariable, string>> {
  const out: Partial<Record<ConfigVariable, string>> = {}
  for (const name of CONFIG_VARIABLES) {
    const value = env[name]
    if (value === undefined || (value === '' && !EMPTY_IS_A_VALUE.has(name))) continue
    out[name] = value
  }
  return out
}

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length] ?? 0
}

function suggestion(key: string): string {
  const upper = key.toUpperCase().replace(/[.-]/g, '_')
  let best: ConfigVariable | undefined
  let bestDistance = 4
  for (const name of CONFIG_VARIABLES) {
    const d = name === upper ? 0 : levenshtein(upper, name)
    if (d < bestDistance) {
      best = name
      bestDistance = d
    }
  }
  return best ? ` (did you mean ${best}?)` : ''
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function jsonErrorPosition(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : ''
  const lineCol = /line (\d+) column (\d+)/.exec(message)
  if (lineCol) return ` at line ${lineCol[1]}, column ${lineCol[2]}`
  const pos = /at position (\d+)/.exec(message)
  if (!pos) return ''
  const before = text.slice(0, Number(pos[1]))
  const line = before.split('\n').length
  const column = before.length - before.lastIndexOf('\n')
  return ` at line ${line}, column ${column}`
}

interface FileResult {
  values: Partial<Record<ConfigVariable, string>>
  problems: string[]
  /** The file could not be read or parsed: settings it may hold are unknown. */
  failed: boolean
  /** Settings the file gives a value of the wrong kind for: reported as such, not as missing. */
  refused: ReadonlySet<ConfigVariable>
}

/**
 * A JSON or YAML config file whose keys are the variable names. Parser messages are not passed on: they quote
 * the file's text, which may hold the secret; line and column are enough.
 */
function readConfigFile(path: string, setting: string, readFile: (path: string) => string): FileResult {
  const failed = (problem: string): FileResult => ({ values: {}, problems: [`${setting}: ${problem}`], failed: true, refused: new Set() })
  const ext = extname(path).toLowerCase()
  if (ext !== '.json' && ext !== '.yaml' && ext !== '.yml') {
    return failed(`${quote(path)} is neither JSON nor YAML: name it *.json, *.yaml or *.yml`)
  }
  let text: string
  try {
    text = readFile(path)
  } catch (err) {
    return failed(`cannot read ${quote(path)} (${fsReason(err)})`)
  }
  let parsed: unknown
  if (text.trim() === '') {
    parsed = {}
  } else if (ext === '.json') {
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      return failed(`${quote(path)} is not valid JSON${jsonErrorPosition(err, text)}`)
    }
  } else {
    try {
      parsed = parseYaml(text)
    } catch (err) {
      if (err instanceof YAMLError) {
        const at = err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : ''
        return failed(`${quote(path)} is not valid YAML (${err.code}${at})`)
      }
      return failed(`${quote(path)} is not valid YAML`)
    }
  }
  if (parsed === null || parsed === undefined) parsed = {}
  if (!isPlainObject(parsed)) {
    return failed(`${quote(path)} must hold a mapping of setting names (the environment variable names) to values`)
  }

  const values: Partial<Record<ConfigVariable, string>> = {}
  const problems: string[] = []
  const refused = new Set<ConfigVariable>()
  for (const [key, value] of Object.entries(parsed)) {
    if (!isConfigVariable(key)) {
      problems.push(`${setting}: ${quote(path)} has an unknown setting ${quote(key)}${suggestion(key)}; keys are the environment variable names`)
      continue
    }
    if (key === 'RECEIVER_CONFIG_FILE') {
      problems.push(`${setting}: ${quote(path)} sets RECEIVER_CONFIG_FILE, which only the environment can set`)
      continue
    }
    const text = settingText(key, value)
    if (typeof text !== 'string') {
      // Names what was given (a list, a number, ...), never the value: it may be the secret.
      problems.push(`${key}: in ${quote(path)} ${text.problem}`)
      refused.add(key)
      continue
    }
    if (text === '' && !EMPTY_IS_A_VALUE.has(key)) continue
    values[key] = text
  }
  return { values, problems, failed: false, refused }
}

/** What a file value is, for messages: never the value itself. */
function fileValueType(value: unknown): string {
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object' && value !== null) return 'a mapping'
  return `a ${typeof value}`
}

/**
 * File values become the text the environment would carry, where the setting takes that kind of value
 * (see FileValueKind): 8080 → "8080" for a port, [a, b] → "a,b" for a comma list; null → unset ('').
 */
function settingText(name: ConfigVariable, value: unknown): string | { problem: string } {
  if (value === null || typeof value === 'string') return value ?? ''
  const kind = fileValueKind(name)
  if (kind === 'number' && typeof value === 'number') return String(value)
  if (kind === 'boolean' && typeof value === 'boolean') return String(value)
  if (kind === 'list' && Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(',')
  const given = fileValueType(value)
  switch (kind) {
    case 'number':
      return { problem: `must be a number or a string, not ${given}` }
    case 'boolean':
      return { problem: `must be true or false, not ${given}` }
    case 'list':
      return { problem: `must be a string or a list of strings, not ${given === 'a list' ? 'a list holding other values' : given}` }
    default:
      return {
        problem:
          typeof value === 'number' || typeof value === 'boolean'
            ? `must be a string, not ${given}: put the value in quotes (a YAML number loses leading zeros and digits)`
            : `must be a string, not ${given}`,
      }
  }
}

/**
 * convict reports all invalid settings in one message, a line each: `NAME: what is wrong[: value was "..."]`.
 * Our formats already quote the value where it is not sensitive, so convict's suffix is cut.
 */
function convictProblems(err: unknown, raw: RawConfig): { problems: Map<ConfigVariable, string>; other: string[] } {
  const problems = new Map<ConfigVariable, string>()
  const other: string[] = []
  const message = err instanceof Error ? err.message : String(err)
  for (const line of message.split('\n')) {
    if (line.trim() === '') continue
    const sep = line.indexOf(': ')
    const name = sep > 0 ? line.slice(0, sep) : ''
    if (!isConfigVariable(name)) {
      other.push(line)
      continue
    }
    let text = line.slice(sep + 2)
    const suffix = `: value was ${JSON.stringify(raw[name])}`
    if (text.endsWith(suffix)) text = text.slice(0, -suffix.length)
    const cut = text.indexOf(': value was ')
    if (cut >= 0) text = text.slice(0, cut)
    problems.set(name, text)
  }
  return { problems, other }
}

interface KeyValueList {
  entries: Record<string, string>
  problems: string[]
}

/**
 * `key=value,key2=value2` with percent-encoded keys and values (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS).
 * Problems name the entry by position and never quote it: header entries usually hold credentials.
 */
export function parseKeyValueList(text: string): KeyValueList {
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

type Sources = Record<ConfigVariable, ConfigSource>
type OtelVariable = Extract<ConfigVariable, `OTEL_${string}`>
export type TlsVariable = Extract<OtelVariable, `${string}_CERTIFICATE` | `${string}_CLIENT_KEY`>
const TLS_VARIABLES: readonly TlsVariable[] = [
  'OTEL_EXPORTER_OTLP_CERTIFICATE',
  'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE',
  'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE',
  'OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE',
  'OTEL_EXPORTER_OTLP_CLIENT_KEY',
  'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY',
]

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g
const PEM_PRIVATE_KEY = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----/

/**
 * The PEM certificates in `text`, each parsed; a problem when there is none or one is broken. Nothing of the
 * file's contents goes into a problem.
 */
function pemCertificates(text: string, path: string): { certs: X509Certificate[] } | { problem: string } {
  const blocks = text.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) {
    return { problem: `${quote(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----); a DER file converts with openssl x509 -inform der` }
  }
  const certs: X509Certificate[] = []
  for (const [i, block] of blocks.entries()) {
    try {
      certs.push(new X509Certificate(block))
    } catch {
      return { problem: `certificate ${i + 1} in ${quote(path)} cannot be parsed` }
    }
  }
  return { certs }
}

function belongsTo(key: KeyObject, cert: X509Certificate): boolean {
  try {
    return cert.checkPrivateKey(key)
  } catch {
    return false
  }
}

/** The private key in `text`. Problems never quote the file (it is a secret). */
function pemPrivateKey(text: string, path: string): { key: KeyObject } | { problem: string } {
  const header = PEM_PRIVATE_KEY.exec(text)
  if (!header) return { problem: `${quote(path)} holds no PEM private key (-----BEGIN PRIVATE KEY-----)` }
  const encrypted = `${quote(path)} holds an encrypted private key: OpenTelemetry has no passphrase setting; give the key unencrypted (e.g. openssl pkey -in key.pem -out plain.pem) in a file only the receiver can read`
  if (header[1] === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type: 4,ENCRYPTED/m.test(text)) return { problem: encrypted }
  try {
    return { key: createPrivateKey(text) }
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === 'ERR_MISSING_PASSPHRASE') return { problem: encrypted }
    return { problem: `the private key in ${quote(path)} cannot be parsed` }
  }
}

function isSet(sources: Sources, name: ConfigVariable): boolean {
  return sources[name] !== 'default'
}

/** The OTLP settings, per the OpenTelemetry specification: the signal-specific variable wins over the general one. */
function resolveOtel(
  raw: RawConfig,
  sources: Sources,
  report: (name: ConfigVariable, problem: string) => void,
  readFile: (path: string) => string,
): ReceiverConfig['otel'] {
  /** The signal-specific variable if set, else the general one; undefined when neither is. */
  const pick = (general: OtelVariable, logs: OtelVariable): { name: OtelVariable; value: string } | undefined => {
    if (isSet(sources, logs)) return { name: logs, value: raw[logs].trim() }
    if (isSet(sources, general)) return { name: general, value: raw[general].trim() }
    return undefined
  }
  const checkEndpoint = (name: ConfigVariable, value: string): void => {
    const problem = checkHttpUrl(value)
    if (problem) return report(name, problem)
    const url = new URL(value)
    if (url.username !== '' || url.password !== '') {
      report(name, `${quote(value)} must not carry a user name or password: put credentials in OTEL_EXPORTER_OTLP_HEADERS`)
    }
  }

  let protocol: ReceiverConfig['otel']['protocol'] = 'http/protobuf'
  const proto = pick('OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL')
  if (proto) {
    const known = OTLP_PROTOCOLS.find((p) => p === proto.value)
    if (known) protocol = known
    else report(proto.name, `${quote(proto.value)} is not one of ${OTLP_PROTOCOLS.join(', ')}`)
  }

  let logsEndpoint = protocol === 'grpc' ? DEFAULT_OTLP_GRPC_ENDPOINT : `${DEFAULT_OTLP_BASE}${LOGS_PATH}`
  const endpoint = pick('OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT')
  const insecure = pick('OTEL_EXPORTER_OTLP_INSECURE', 'OTEL_EXPORTER_OTLP_LOGS_INSECURE')
  if (insecure && !/^(true|false)$/i.test(insecure.value)) report(insecure.name, `${quote(insecure.value)} is not true or false`)
  if (endpoint && protocol === 'grpc') {
    logsEndpoint = grpcEndpoint(endpoint, insecure, report) ?? logsEndpoint
  } else if (endpoint) {
    checkEndpoint(endpoint.name, endpoint.value)
    logsEndpoint =
      endpoint.name === 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT' ? endpoint.value : `${endpoint.value.replace(/\/+$/, '')}${LOGS_PATH}`
  }

  const headers: Record<string, string> = {}
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_LOGS_HEADERS'] as const) {
    if (!isSet(sources, name)) continue
    const list = parseKeyValueList(raw[name])
    for (const problem of list.problems) report(name, problem)
    for (const [key, value] of Object.entries(list.entries)) {
      if (HTTP_TOKEN.test(key)) headers[key.toLowerCase()] = value
      else report(name, 'an entry has a key that is not a valid HTTP header name')
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

  let compression: ReceiverConfig['otel']['compression'] = 'none'
  const comp = pick('OTEL_EXPORTER_OTLP_COMPRESSION', 'OTEL_EXPORTER_OTLP_LOGS_COMPRESSION')
  if (comp) {
    const known = OTLP_COMPRESSIONS.find((c) => c === comp.value)
    if (known) compression = known
    else report(comp.name, `${quote(comp.value)} is not one of ${OTLP_COMPRESSIONS.join(', ')}`)
  }

  let timeoutMs = DEFAULT_OTLP_TIMEOUT_MS
  const timeout = pick('OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT')
  if (timeout) {
    const ms = WHOLE_NUMBER.test(timeout.value) ? Number(timeout.value) : NaN
    if (Number.isSafeInteger(ms) && ms > 0) timeoutMs = ms
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
  const tls = resolveTls(pick, report, readFile)
  if (tls) otel.tls = tls
  const limits = resolveLimits(pick, report)
  if (limits) otel.logRecordLimits = limits
  return otel
}

type Pick = (general: OtelVariable, logs: OtelVariable) => { name: OtelVariable; value: string } | undefined
type Report = (name: ConfigVariable, problem: string) => void

/**
 * An OTLP/gRPC endpoint as scheme://host:port. The specification allows `host:port` without a scheme for gRPC: then
 * OTEL_EXPORTER_OTLP_[LOGS_]INSECURE decides (true: plaintext, else TLS). A path has no place: the method decides it.
 */
function grpcEndpoint(
  endpoint: { name: OtelVariable; value: string },
  insecure: { name: OtelVariable; value: string } | undefined,
  report: Report,
): string | undefined {
  let value = endpoint.value
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    const plaintext = insecure !== undefined && insecure.value.toLowerCase() === 'true'
    value = `${plaintext ? 'http' : 'https'}://${value}`
  }
  const problem = checkHttpUrl(value)
  if (problem) {
    report(endpoint.name, problem.replace(/start it with https:\/\//, 'start it with http:// (plaintext) or https:// (TLS), or give host:port'))
    return undefined
  }
  const url = new URL(value)
  if (url.username !== '' || url.password !== '') {
    report(endpoint.name, `${quote(value)} must not carry a user name or password: put credentials in OTEL_EXPORTER_OTLP_HEADERS`)
    return undefined
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '') {
    report(endpoint.name, `${quote(redactUrl(value))} has a path or query: an OTLP/gRPC endpoint is scheme://host:port (the method path is fixed); /v1/logs belongs to OTLP/HTTP`)
    return undefined
  }
  return `${url.protocol}//${url.host}`
}

/**
 * OTEL_EXPORTER_OTLP_[LOGS_]CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY: each a PEM file path, read now, so a
 * wrong path stops the receiver at start rather than at the first export. Each pair resolves on its own (the
 * _LOGS_ variable wins); the client certificate and key must come together and belong together.
 */
function resolveTls(pick: Pick, report: Report, readFile: (path: string) => string): ReceiverConfig['otel']['tls'] {
  const read = (setting: { name: OtelVariable; value: string } | undefined): { name: OtelVariable; path: string; text: string } | undefined => {
    if (!setting) return undefined
    const { name, value: path } = setting
    if (path === '') {
      report(name, 'is blank: give the path of a PEM file, or leave it unset')
      return undefined
    }
    let text: string
    try {
      text = readFile(path)
    } catch (err) {
      report(name, `cannot read ${quote(path)} (${fsReason(err)})`)
      return undefined
    }
    if (text.trim() === '') {
      report(name, `${quote(path)} is empty`)
      return undefined
    }
    return { name, path, text }
  }
  const caSetting = pick('OTEL_EXPORTER_OTLP_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE')
  const certSetting = pick('OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE')
  const keySetting = pick('OTEL_EXPORTER_OTLP_CLIENT_KEY', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY')
  if (certSetting && !keySetting) {
    report(certSetting.name, 'a client certificate needs its private key: set OTEL_EXPORTER_OTLP_CLIENT_KEY (or OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY) too')
  }
  if (keySetting && !certSetting) {
    report(keySetting.name, 'a client key needs its certificate: set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE (or OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE) too')
  }

  const tls: NonNullable<ReceiverConfig['otel']['tls']> = {}
  const ca = read(caSetting)
  if (ca) {
    const parsed = pemCertificates(ca.text, ca.path)
    if ('problem' in parsed) report(ca.name, parsed.problem)
    else tls.ca = ca.text
  }
  const cert = read(certSetting)
  let clientCert: X509Certificate | undefined
  if (cert) {
    const parsed = pemCertificates(cert.text, cert.path)
    if ('problem' in parsed) report(cert.name, parsed.problem)
    else {
      clientCert = parsed.certs[0]
      tls.cert = cert.text
    }
  }
  const key = read(keySetting)
  if (key) {
    const parsed = pemPrivateKey(key.text, key.path)
    if ('problem' in parsed) report(key.name, parsed.problem)
    else if (cert && clientCert && !belongsTo(parsed.key, clientCert)) {
      report(key.name, `${quote(key.path)} is not the private key of the certificate in ${quote(cert.path)} (${cert.name})`)
    } else tls.key = key.text
  }
  return Object.keys(tls).length > 0 ? tls : undefined
}

/**
 * OTEL_LOGRECORD_ATTRIBUTE_{VALUE_LENGTH,COUNT}_LIMIT, else OTEL_ATTRIBUTE_*: whole numbers. Unset leaves the SDK
 * default (no value length limit; 128 attributes). The flat mapping gives a message event about 40 attributes
 * (39-43 for the sample response; up to ~50 with every optional field) and a click about 20, so the default count
 * limit drops nothing; a lower one drops attributes, which the export report counts (droppedAttributes).
 */
function resolveLimits(pick: Pick, report: Report): ReceiverConfig['otel']['logRecordLimits'] {
  const whole = (setting: { name: OtelVariable; value: string } | undefined): number | undefined => {
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

function eventTypesOf(names: string[]): EventType[] {
  if (names.includes('all')) return [...EVENT_TYPES]
  return EVENT_TYPES.filter((t) => names.includes(t))
}

function threatStatusOf(text: string): string | undefined {
  const statuses = THREAT_STATUSES.filter((s) => text.split(',').some((item) => item.trim() === s))
  return statuses.length > 0 ? statuses.join(',') : undefined
}

/**
 * Builds the configuration from defaults, the config file (`opts.configFile`, else RECEIVER_CONFIG_FILE) and the
 * environment, which wins. Throws one ConfigError listing every problem, each naming its setting; secret values
 * never appear in it.
 */
export function loadConfig(opts: LoadOptions): LoadedConfig {
  const readFile = opts.readFile ?? defaultReadFile
  const env = settingsFromEnv(opts.env)
  const problems: string[] = []

  const configFile = opts.configFile ?? env.RECEIVER_CONFIG_FILE
  let file: FileResult = { values: {}, problems: [], failed: false, refused: new Set() }
  if (configFile !== undefined) {
    file = readConfigFile(configFile, opts.configFile !== undefined ? '--config' : 'RECEIVER_CONFIG_FILE', readFile)
    problems.push(...file.problems)
  }

  const sources = {} as Sources
  for (const name of CONFIG_VARIABLES) sources[name] = name in env ? 'env' : name in file.values ? 'file' : 'default'
  if (opts.configFile !== undefined) sources.RECEIVER_CONFIG_FILE = 'arg'

  /** Problems name the setting first; a value that came from the file says so. */
  const report = (name: ConfigVariable, problem: string): void => {
    const where = sources[name] === 'file' && configFile !== undefined ? ` (set in ${quote(configFile)})` : ''
    problems.push(`${name}: ${problem}${where}`)
  }

  const cfg = createConvict(env)
  cfg.load(file.values) // the environment is applied again on top: it wins
  const raw = cfg.getProperties()
  let invalid = new Map<ConfigVariable, string>()
  try {
    cfg.validate({ allowed: 'strict' })
  } catch (err) {
    const found = convictProblems(err, raw)
    invalid = found.problems
    problems.push(...found.other)
  }
  for (const [name, problem] of invalid) report(name, problem)
  const valid = (name: ConfigVariable): boolean => !invalid.has(name)

  // Ranges that depend on the SIEM API's limits (durations are never negative: the parser has no sign).
  const positive = (name: ConfigVariable, ms: number): void => {
    if (valid(name) && ms === 0) report(name, 'must be longer than 0s')
  }
  const atLeast = (name: ConfigVariable, ms: number, min: number, why: string): void => {
    if (valid(name) && ms < min) report(name, `${formatDuration(ms)} is less than ${formatDuration(min)}: ${why}`)
  }
  const atMost = (name: ConfigVariable, ms: number, max: number, why: string): void => {
    if (valid(name) && ms > max) report(name, `${formatDuration(ms)} is more than ${formatDuration(max)}: ${why}`)
  }
  atLeast('RECEIVER_POLL_INTERVAL', raw.RECEIVER_POLL_INTERVAL, MIN_POLL_INTERVAL_MS, 'the SIEM API answers windows of at least 30s')
  positive('RECEIVER_START_LOOKBACK', raw.RECEIVER_START_LOOKBACK)
  atMost('RECEIVER_START_LOOKBACK', raw.RECEIVER_START_LOOKBACK, MAX_START_LOOKBACK_MS, 'the SIEM API serves at most 7 days back')
  atMost('RECEIVER_OVERLAP', raw.RECEIVER_OVERLAP, MAX_OVERLAP_MS, 'the overlap and new data are asked in one request of at most 1h')
  positive('RECEIVER_NO_EVENTS_ALERT_AFTER', raw.RECEIVER_NO_EVENTS_ALERT_AFTER)
  atLeast('RECEIVER_RETRY_MAX_BACKOFF', raw.RECEIVER_RETRY_MAX_BACKOFF, MIN_RETRY_MAX_BACKOFF_MS, 'retrying more often only burns the request budget')
  // The request budget, once both settings are valid on their own.
  if (valid('RECEIVER_POLL_INTERVAL') && valid('PROOFPOINT_REQUEST_BUDGET') && raw.RECEIVER_POLL_INTERVAL >= MIN_POLL_INTERVAL_MS) {
    const problem = checkRequestBudget(raw.RECEIVER_POLL_INTERVAL, raw.PROOFPOINT_REQUEST_BUDGET)
    if (problem) report('RECEIVER_POLL_INTERVAL', problem)
  }
  positive('PROOFPOINT_REQUEST_TIMEOUT', raw.PROOFPOINT_REQUEST_TIMEOUT)

  // Credentials. Required settings are not reported missing when a config file that may hold them failed.
  const principal = raw.PROOFPOINT_PRINCIPAL.trim()
  if (!isSet(sources, 'PROOFPOINT_PRINCIPAL')) {
    if (!file.failed && !file.refused.has('PROOFPOINT_PRINCIPAL')) report('PROOFPOINT_PRINCIPAL', 'required: the TAP service principal')
  } else if (principal === '') report('PROOFPOINT_PRINCIPAL', 'must not be empty')

  let secret = ''
  let secretFile: string | undefined
  const hasSecret = isSet(sources, 'PROOFPOINT_SECRET')
  const hasSecretFile = isSet(sources, 'PROOFPOINT_SECRET_FILE')
  if (hasSecret && hasSecretFile) {
    problems.push('PROOFPOINT_SECRET and PROOFPOINT_SECRET_FILE are both set: give only one')
  } else if (hasSecret) {
    secret = raw.PROOFPOINT_SECRET
    if (secret.trim() === '') report('PROOFPOINT_SECRET', 'must not be empty')
  } else if (hasSecretFile) {
    secretFile = raw.PROOFPOINT_SECRET_FILE
    if (secretFile.trim() === '') report('PROOFPOINT_SECRET_FILE', 'must not be empty')
    else {
      const result = secretFromFile(secretFile, readFile)
      if ('problem' in result) problems.push(result.problem)
      else secret = result.secret
    }
  } else if (!file.failed && !file.refused.has('PROOFPOINT_SECRET') && !file.refused.has('PROOFPOINT_SECRET_FILE')) {
    problems.push('PROOFPOINT_SECRET or PROOFPOINT_SECRET_FILE: required: the TAP service secret, or a file holding it')
  }

  // The ops server's bearer token: read once, here; surrounding whitespace (a trailing newline) is not part of it.
  let httpAuth: { httpAuthTokenFile: string; httpAuthToken: string } | undefined
  if (isSet(sources, 'RECEIVER_HTTP_AUTH_TOKEN_FILE')) {
    const tokenFile = raw.RECEIVER_HTTP_AUTH_TOKEN_FILE
    if (tokenFile.trim() === '') report('RECEIVER_HTTP_AUTH_TOKEN_FILE', 'must not be empty')
    else {
      const result = secretFromFile(tokenFile, readFile, 'RECEIVER_HTTP_AUTH_TOKEN_FILE')
      if ('problem' in result) problems.push(result.problem)
      else httpAuth = { httpAuthTokenFile: tokenFile, httpAuthToken: result.secret.trim() }
    }
  }

  // The CA bundle for the SIEM API, read and parsed now (as OTEL_EXPORTER_OTLP_CERTIFICATE), so a wrong path stops
  // the receiver at start. It replaces the system CAs; TLS verification itself is never switched off.
  let apiCa: { caFile: string; ca: string } | undefined
  const caFile = raw.PROOFPOINT_CA_FILE
  if (isSet(sources, 'PROOFPOINT_CA_FILE') && caFile !== '') {
    let text: string | undefined
    try {
      text = readFile(caFile)
    } catch (err) {
      report('PROOFPOINT_CA_FILE', `cannot read ${quote(caFile)} (${fsReason(err)})`)
    }
    if (text !== undefined) {
      const parsed = text.trim() === '' ? { problem: `${quote(caFile)} is empty` } : pemCertificates(text, caFile)
      if ('problem' in parsed) report('PROOFPOINT_CA_FILE', parsed.problem)
      else apiCa = { caFile, ca: text }
    }
  }

  const otel = resolveOtel(raw, sources, report, readFile)

  // Outbound proxies. The variables are checked when set, named in the message, never echoed with credentials.
  if (raw.PROOFPOINT_PROXY_URL.trim() !== '') {
    const problem = checkHttpUrl(raw.PROOFPOINT_PROXY_URL.trim())
    if (problem) report('PROOFPOINT_PROXY_URL', problem)
  }
  for (const name of ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY']) {
    const value = opts.env[name]?.trim()
    const problem = value ? checkHttpUrl(value) : undefined
    if (problem) problems.push(`${name}: ${problem}`)
  }
  const explicitProxy = raw.PROOFPOINT_PROXY_URL.trim() === '' ? undefined : { url: raw.PROOFPOINT_PROXY_URL.trim(), from: 'PROOFPOINT_PROXY_URL' }
  const apiProxy = proxyFor(raw.PROOFPOINT_BASE_URL, opts.env, explicitProxy)
  const otlpProxy = proxyFor(otel.logsEndpoint, opts.env)
  if (otlpProxy) otel.proxy = otlpProxy
  if (otlpProxy && otel.protocol === 'grpc' && !/^http:\/\//i.test(otlpProxy.url)) {
    problems.push(`${otlpProxy.from}: the OTLP/gRPC export tunnels through http:// proxies only (grpc-js); use the proxy's http:// address, or NO_PROXY for the collector`)
  }

  if (problems.length > 0) throw new ConfigError(problems)

  const config: ReceiverConfig = {
    proofpoint: {
      baseUrl: raw.PROOFPOINT_BASE_URL.replace(/\/+$/, ''),
      principal,
      secret,
      secretFile,
      ...apiCa,
      ...(apiProxy ? { proxy: apiProxy } : {}),
      eventTypes: eventTypesOf(raw.PROOFPOINT_EVENT_TYPES),
      threatStatus: threatStatusOf(raw.PROOFPOINT_THREAT_STATUS),
      threatType: raw.PROOFPOINT_THREAT_TYPE || undefined,
      requestBudget: raw.PROOFPOINT_REQUEST_BUDGET,
      requestTimeoutMs: raw.PROOFPOINT_REQUEST_TIMEOUT,
    },
    receiver: {
      pollIntervalMs: raw.RECEIVER_POLL_INTERVAL,
      startLookbackMs: raw.RECEIVER_START_LOOKBACK,
      stateDir: raw.RECEIVER_STATE_DIR,
      noEventsAlertAfterMs: raw.RECEIVER_NO_EVENTS_ALERT_AFTER,
      httpHost: raw.RECEIVER_HTTP_HOST,
      httpPort: raw.RECEIVER_HTTP_PORT,
      logLevel: raw.RECEIVER_LOG_LEVEL,
      body: raw.RECEIVER_BODY,
      attributeShape: raw.RECEIVER_ATTRIBUTE_SHAPE,
      overlapMs: raw.RECEIVER_OVERLAP,
      retryMaxBackoffMs: raw.RECEIVER_RETRY_MAX_BACKOFF,
      noEventsFailsReadiness: raw.RECEIVER_NO_EVENTS_FAILS_READINESS === 'true',
      exportBatchSize: raw.RECEIVER_EXPORT_BATCH_SIZE,
      exportConcurrency: raw.RECEIVER_EXPORT_CONCURRENCY,
      windowMaxEvents: raw.RECEIVER_WINDOW_MAX_EVENTS,
      windowMaxBytes: raw.RECEIVER_WINDOW_MAX_MB * 1024 * 1024,
      ...httpAuth,
    },
    otel,
  }
  const tlsFiles: Partial<Record<TlsVariable, string>> = {}
  for (const name of TLS_VARIABLES) if (isSet(sources, name)) tlsFiles[name] = raw[name].trim()
  return {
    config,
    sources,
    ...(configFile !== undefined ? { configFile } : {}),
    ...(Object.keys(tlsFiles).length > 0 ? { tlsFiles } : {}),
  }
}

function encodeKeyValueList(entries: Record<string, string>, redact: boolean): string {
  const enc = (s: string): string => s.replace(/[%,=]/g, (c) => encodeURIComponent(c))
  return Object.entries(entries)
    .map(([k, v]) => `${enc(k)}=${redact ? REDACTED : enc(v)}`)
    .join(',')
}

export interface ConfigRow {
  name: string
  value: string
  source: ConfigSource
}

/**
 * Every setting with its effective value, for `check-config`. The secret and header values show as `[redacted]`;
 * TLS settings show their file paths, never the files' contents.
 * For the OTLP pairs, the `_LOGS_` row shows what the receiver uses (whichever variable or default supplied it);
 * the general row shows its own contribution, or that it is overridden.
 */
export function describeConfig(loaded: LoadedConfig): ConfigRow[] {
  const { config, configFile } = loaded
  const source = (name: ConfigVariable): ConfigSource => loaded.sources[name] ?? 'default'
  const set = (name: ConfigVariable): boolean => source(name) !== 'default'
  const orUnset = (value: string | undefined): string => (value === undefined || value === '' ? UNSET : value)
  const pp = config.proofpoint
  const rc = config.receiver
  const otel = config.otel

  /** The general/specific OTLP pair: [general row value, specific row value, specific row source]. */
  type Row = [string, ConfigSource]
  const pair = (general: ConfigVariable, logs: ConfigVariable, effective: string, generalValue: string): [Row, Row] => {
    const generalText = !set(general) ? UNSET : set(logs) ? `(overridden by ${logs})` : generalValue
    return [
      [generalText, source(general)],
      [effective, set(logs) ? source(logs) : source(general)],
    ]
  }
  // URLs show with their user info and query values redacted (an endpoint's query may carry an API key).
  const endpointBase = otel.logsEndpoint.endsWith(LOGS_PATH) ? otel.logsEndpoint.slice(0, -LOGS_PATH.length) : otel.logsEndpoint
  const [endpointRow, logsEndpointRow] = pair('OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', redactUrl(otel.logsEndpoint), redactUrl(endpointBase))
  const [protocolRow, logsProtocolRow] = pair('OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', otel.protocol, otel.protocol)
  const [compressionRow, logsCompressionRow] = pair('OTEL_EXPORTER_OTLP_COMPRESSION', 'OTEL_EXPORTER_OTLP_LOGS_COMPRESSION', otel.compression, otel.compression)
  const timeout = String(otel.timeoutMs)
  const insecureText = otel.insecure === undefined ? UNSET : `${otel.insecure}${otel.protocol === 'grpc' ? '' : ' (not used: only for grpc endpoints without a scheme)'}`
  const [insecureRow, logsInsecureRow] = pair('OTEL_EXPORTER_OTLP_INSECURE', 'OTEL_EXPORTER_OTLP_LOGS_INSECURE', insecureText, insecureText)
  const [timeoutRow, logsTimeoutRow] = pair('OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT', timeout, timeout)
  // TLS rows show file paths (never contents); a path the http endpoint does not use says so.
  const tlsFiles = loaded.tlsFiles ?? {}
  const unused = otel.logsEndpoint.startsWith('https:') ? '' : ' (not used: the endpoint is not https)'
  const tlsPair = (general: TlsVariable, logs: TlsVariable): [Row, Row] => {
    const effective = tlsFiles[logs] ?? tlsFiles[general]
    return pair(general, logs, effective === undefined ? UNSET : `${effective}${unused}`, `${tlsFiles[general] ?? ''}${unused}`)
  }
  const [caRow, logsCaRow] = tlsPair('OTEL_EXPORTER_OTLP_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE')
  const [certRow, logsCertRow] = tlsPair('OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE')
  const [keyRow, logsKeyRow] = tlsPair('OTEL_EXPORTER_OTLP_CLIENT_KEY', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY')
  const lengthLimit = otel.logRecordLimits?.attributeValueLengthLimit
  const lengthText = lengthLimit === undefined ? '(no limit)' : String(lengthLimit)
  const countText = String(otel.logRecordLimits?.attributeCountLimit ?? DEFAULT_ATTRIBUTE_COUNT_LIMIT)
  const [lengthRow, logsLengthRow] = pair('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', lengthText, lengthText)
  const [countRow, logsCountRow] = pair('OTEL_ATTRIBUTE_COUNT_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT', countText, countText)
  const headerSource: ConfigSource = set('OTEL_EXPORTER_OTLP_LOGS_HEADERS') ? source('OTEL_EXPORTER_OTLP_LOGS_HEADERS') : source('OTEL_EXPORTER_OTLP_HEADERS')
  const serviceNameSource: ConfigSource = set('OTEL_SERVICE_NAME')
    ? source('OTEL_SERVICE_NAME')
    : otel.resourceAttributes['service.name'] !== undefined
      ? source('OTEL_RESOURCE_ATTRIBUTES')
      : 'default'

  const rows: Record<ConfigVariable, Row> = {
    PROOFPOINT_BASE_URL: [redactUrl(pp.baseUrl), source('PROOFPOINT_BASE_URL')],
    PROOFPOINT_PRINCIPAL: [pp.principal, source('PROOFPOINT_PRINCIPAL')],
    PROOFPOINT_SECRET: [set('PROOFPOINT_SECRET') ? REDACTED : UNSET, source('PROOFPOINT_SECRET')],
    PROOFPOINT_SECRET_FILE: [orUnset(pp.secretFile), source('PROOFPOINT_SECRET_FILE')],
    PROOFPOINT_CA_FILE: [pp.caFile === undefined ? '(unset: the system CAs)' : `${pp.caFile}${pp.baseUrl.startsWith('https:') ? '' : ' (not used: PROOFPOINT_BASE_URL is not https)'}`, source('PROOFPOINT_CA_FILE')],
    PROOFPOINT_PROXY_URL: [
      pp.proxy === undefined ? '(unset: no proxy for the SIEM API)' : `${redactUrl(pp.proxy.url)}${pp.proxy.from === 'PROOFPOINT_PROXY_URL' ? '' : ` (from ${pp.proxy.from})`}${otel.proxy === undefined ? '; OTLP export: direct' : `; OTLP export: ${redactUrl(otel.proxy.url)} (from ${otel.proxy.from})`}`,
      source('PROOFPOINT_PROXY_URL'),
    ],
    PROOFPOINT_EVENT_TYPES: [pp.eventTypes.join(','), source('PROOFPOINT_EVENT_TYPES')],
    PROOFPOINT_THREAT_STATUS: [orUnset(pp.threatStatus), source('PROOFPOINT_THREAT_STATUS')],
    PROOFPOINT_THREAT_TYPE: [orUnset(pp.threatType), source('PROOFPOINT_THREAT_TYPE')],
    PROOFPOINT_REQUEST_BUDGET: [String(pp.requestBudget), source('PROOFPOINT_REQUEST_BUDGET')],
    PROOFPOINT_REQUEST_TIMEOUT: [formatDuration(pp.requestTimeoutMs), source('PROOFPOINT_REQUEST_TIMEOUT')],
    RECEIVER_CONFIG_FILE: [orUnset(configFile), source('RECEIVER_CONFIG_FILE')],
    RECEIVER_POLL_INTERVAL: [formatDuration(rc.pollIntervalMs), source('RECEIVER_POLL_INTERVAL')],
    RECEIVER_START_LOOKBACK: [formatDuration(rc.startLookbackMs), source('RECEIVER_START_LOOKBACK')],
    RECEIVER_STATE_DIR: [rc.stateDir, source('RECEIVER_STATE_DIR')],
    RECEIVER_NO_EVENTS_ALERT_AFTER: [formatDuration(rc.noEventsAlertAfterMs), source('RECEIVER_NO_EVENTS_ALERT_AFTER')],
    RECEIVER_HTTP_HOST: [rc.httpHost, source('RECEIVER_HTTP_HOST')],
    RECEIVER_HTTP_PORT: [String(rc.httpPort), source('RECEIVER_HTTP_PORT')],
    RECEIVER_HTTP_AUTH_TOKEN_FILE: [orUnset(rc.httpAuthTokenFile), source('RECEIVER_HTTP_AUTH_TOKEN_FILE')],
    RECEIVER_LOG_LEVEL: [rc.logLevel, source('RECEIVER_LOG_LEVEL')],
    RECEIVER_BODY: [rc.body, source('RECEIVER_BODY')],
    RECEIVER_ATTRIBUTE_SHAPE: [rc.attributeShape, source('RECEIVER_ATTRIBUTE_SHAPE')],
    RECEIVER_OVERLAP: [formatDuration(rc.overlapMs), source('RECEIVER_OVERLAP')],
    RECEIVER_RETRY_MAX_BACKOFF: [formatDuration(rc.retryMaxBackoffMs), source('RECEIVER_RETRY_MAX_BACKOFF')],
    RECEIVER_NO_EVENTS_FAILS_READINESS: [String(rc.noEventsFailsReadiness), source('RECEIVER_NO_EVENTS_FAILS_READINESS')],
    RECEIVER_EXPORT_BATCH_SIZE: [String(rc.exportBatchSize), source('RECEIVER_EXPORT_BATCH_SIZE')],
    RECEIVER_EXPORT_CONCURRENCY: [String(rc.exportConcurrency), source('RECEIVER_EXPORT_CONCURRENCY')],
    RECEIVER_WINDOW_MAX_EVENTS: [String(rc.windowMaxEvents), source('RECEIVER_WINDOW_MAX_EVENTS')],
    RECEIVER_WINDOW_MAX_MB: [String(rc.windowMaxBytes / 1024 / 1024), source('RECEIVER_WINDOW_MAX_MB')],
    OTEL_EXPORTER_OTLP_ENDPOINT: endpointRow,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: logsEndpointRow,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocolRow,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: logsProtocolRow,
    OTEL_EXPORTER_OTLP_HEADERS: [set('OTEL_EXPORTER_OTLP_HEADERS') ? REDACTED : UNSET, source('OTEL_EXPORTER_OTLP_HEADERS')],
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: [orUnset(encodeKeyValueList(otel.headers, true)), headerSource],
    OTEL_EXPORTER_OTLP_COMPRESSION: compressionRow,
    OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: logsCompressionRow,
    OTEL_EXPORTER_OTLP_TIMEOUT: timeoutRow,
    OTEL_EXPORTER_OTLP_INSECURE: insecureRow,
    OTEL_EXPORTER_OTLP_LOGS_INSECURE: logsInsecureRow,
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: logsTimeoutRow,
    OTEL_EXPORTER_OTLP_CERTIFICATE: caRow,
    OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: logsCaRow,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: certRow,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE: logsCertRow,
    OTEL_EXPORTER_OTLP_CLIENT_KEY: keyRow,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: logsKeyRow,
    OTEL_SERVICE_NAME: [otel.serviceName, serviceNameSource],
    OTEL_RESOURCE_ATTRIBUTES: [orUnset(encodeKeyValueList(otel.resourceAttributes, false)), source('OTEL_RESOURCE_ATTRIBUTES')],
    OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: lengthRow,
    OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: logsLengthRow,
    OTEL_ATTRIBUTE_COUNT_LIMIT: countRow,
    OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: logsCountRow,
  }
  return CONFIG_VARIABLES.map((name) => {
    const [value, from] = rows[name]
    return { name, value: SENSITIVE_VARIABLES.has(name) && value !== UNSET && !value.includes(REDACTED) ? REDACTED : value, source: from }
  })
}
