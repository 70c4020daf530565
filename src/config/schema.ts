/**
 * The configuration schema: every setting, its environment variable, its default and its format, in one place.
 * Keys are the variable names themselves, so a config file uses the same names as the environment and every
 * problem convict reports already names the variable the operator has to fix.
 */
import convict from 'convict'
import type { AttributeShape, BodyMode } from '../mapping/types.js'
import {
  DEFAULT_ATTRIBUTE_COUNT_LIMIT,
  DEFAULT_EXPORT_BATCH_SIZE,
  DEFAULT_EXPORT_CONCURRENCY,
  DEFAULT_OTLP_GRPC_ENDPOINT,
  DEFAULT_OTLP_HTTP_ENDPOINT,
  DEFAULT_OTLP_PROTOCOL,
  DEFAULT_OTLP_TIMEOUT_MS,
  DEFAULT_RETRY_MAX_BACKOFF_MS,
  DEFAULT_SERVICE_NAME,
  DEFAULT_WINDOW_MAX_EVENTS,
  DEFAULT_WINDOW_MAX_MB,
  OTLP_LOGS_PATH,
} from './defaults.js'
import { anyString, baseUrl, nonEmpty, oneOf, threatStatusList } from './formats.js'

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/** Setting values after convict's coercion (durations in ms). Only trusted once validation found no problem. */
export interface RawConfig {
  PROOFPOINT_BASE_URL: string
  PROOFPOINT_PRINCIPAL: string
  PROOFPOINT_SECRET: string
  PROOFPOINT_SECRET_FILE: string
  PROOFPOINT_CA_FILE: string
  PROOFPOINT_PROXY_URL: string
  /** `all` or event type names, split; normalised after validation. */
  PROOFPOINT_EVENT_TYPES: string[]
  PROOFPOINT_THREAT_STATUS: string
  PROOFPOINT_THREAT_TYPE: string
  PROOFPOINT_REQUEST_BUDGET: number
  PROOFPOINT_REQUEST_TIMEOUT: number
  RECEIVER_CONFIG_FILE: string
  RECEIVER_POLL_INTERVAL: number
  RECEIVER_START_LOOKBACK: number
  RECEIVER_STATE_DIR: string
  RECEIVER_NO_EVENTS_ALERT_AFTER: number
  RECEIVER_HTTP_HOST: string
  RECEIVER_HTTP_PORT: number
  RECEIVER_HTTP_AUTH_TOKEN_FILE: string
  RECEIVER_LOG_LEVEL: LogLevel
  RECEIVER_BODY: BodyMode
  RECEIVER_ATTRIBUTE_SHAPE: AttributeShape
  RECEIVER_INDICATORS: 'true' | 'false'
  RECEIVER_STANDARD_FIELDS: 'true' | 'false'
  RECEIVER_OVERLAP: number
  RECEIVER_RETRY_MAX_BACKOFF: number
  RECEIVER_NO_EVENTS_FAILS_READINESS: 'true' | 'false'
  RECEIVER_EXPORT_BATCH_SIZE: number
  RECEIVER_EXPORT_CONCURRENCY: number
  RECEIVER_WORKERS: number | 'auto'
  RECEIVER_WINDOW_MAX_EVENTS: number
  RECEIVER_WINDOW_MAX_MB: number
  /* The OTEL_* settings are resolved together (specific over general, defaults per the specification) in otel.ts;
     here they are plain strings, '' meaning unset. */
  OTEL_EXPORTER_OTLP_ENDPOINT: string
  OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: string
  OTEL_EXPORTER_OTLP_PROTOCOL: string
  OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: string
  OTEL_EXPORTER_OTLP_HEADERS: string
  OTEL_EXPORTER_OTLP_LOGS_HEADERS: string
  OTEL_EXPORTER_OTLP_COMPRESSION: string
  OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: string
  OTEL_EXPORTER_OTLP_TIMEOUT: string
  OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: string
  OTEL_EXPORTER_OTLP_INSECURE: string
  OTEL_EXPORTER_OTLP_LOGS_INSECURE: string
  /* TLS: file paths; tls.ts reads the files. */
  OTEL_EXPORTER_OTLP_CERTIFICATE: string
  OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: string
  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: string
  OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE: string
  OTEL_EXPORTER_OTLP_CLIENT_KEY: string
  OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: string
  OTEL_SERVICE_NAME: string
  OTEL_RESOURCE_ATTRIBUTES: string
  /* SDK limits: the log-record-specific variable wins over the general attribute limit. */
  OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: string
  OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: string
  OTEL_ATTRIBUTE_COUNT_LIMIT: string
  OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: string
}
export type ConfigVariable = keyof RawConfig

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const BODY_MODES: readonly BodyMode[] = ['json', 'map', 'none']
const ATTRIBUTE_SHAPES: readonly AttributeShape[] = ['flat', 'nested']
/** The SIEM API's `threatType` filter values. */
const THREAT_TYPES = ['url', 'attachment', 'messageText'] as const

/**
 * What a config file may give for a setting, besides null (unset). The environment only has strings; a file also has
 * numbers, booleans, lists and mappings, and each is taken only where it means what the environment's text would:
 * - `string` (the settings with a string default, unless `file` says otherwise): a string only. A number is refused
 *   too: YAML reads `0123` as 123 and long digit strings lose digits, which would silently change a secret, a
 *   principal or a path.
 * - `number` (a number default): a string or a number (ports, counts, durations: a bare number is then reported as
 *   lacking a unit).
 * - `boolean`: a string or true/false.
 * - `list` (a list default): a string or a list of strings, joined with commas (the comma lists).
 */
export type FileValueKind = 'string' | 'number' | 'boolean' | 'list'

/** A setting: read from the environment variable of its own name, and from the config file's key of that name. */
interface Setting<T> {
  doc: string
  default: T
  format: convict.SchemaObj<T>['format']
  sensitive?: boolean
  file?: FileValueKind
}

const SCHEMA: { [K in ConfigVariable]: Setting<RawConfig[K]> } = {
  PROOFPOINT_BASE_URL: {
    doc: 'The Proofpoint Domain (TAP SIEM API base URL)',
    default: 'https://tap-api-v2.proofpoint.com',
    format: baseUrl,
  },
  PROOFPOINT_PRINCIPAL: {
    doc: 'TAP service principal (basic auth user); required',
    default: '',
    format: anyString,
  },
  PROOFPOINT_SECRET: {
    doc: 'TAP service secret; give this or PROOFPOINT_SECRET_FILE',
    default: '',
    format: anyString,
    sensitive: true,
  },
  PROOFPOINT_SECRET_FILE: {
    doc: 'File holding the TAP service secret (re-read on every SIEM API request, so a rotated secret is picked up without a restart)',
    default: '',
    format: anyString,
  },
  PROOFPOINT_CA_FILE: {
    doc: 'PEM file of the CA(s) trusted for PROOFPOINT_BASE_URL (https); replaces the system CAs. Unset: the system CAs',
    default: '',
    format: anyString,
  },
  PROOFPOINT_PROXY_URL: {
    doc: 'Forward proxy for the SIEM API (http://host:port; CONNECT tunnel for https). Unset: HTTPS_PROXY / HTTP_PROXY / NO_PROXY',
    default: '',
    format: anyString,
  },
  PROOFPOINT_EVENT_TYPES: {
    doc: 'all, or a comma list of messagesDelivered,messagesBlocked,clicksPermitted,clicksBlocked',
    default: ['all'],
    format: 'psr-event-types',
  },
  PROOFPOINT_THREAT_STATUS: {
    doc: 'threatStatus filter: comma list of active, cleared, falsePositive; unset: the API default',
    default: '',
    format: threatStatusList,
    file: 'list',
  },
  PROOFPOINT_THREAT_TYPE: {
    doc: 'threatType filter: url, attachment or messageText; unset: all',
    default: '',
    format: oneOf(THREAT_TYPES, true),
  },
  PROOFPOINT_REQUEST_BUDGET: {
    // The SIEM API allows about 1,800 requests per rolling 24 h per credential and pool; over it, 429. Checked at
    // start-up against RECEIVER_POLL_INTERVAL; the poller waits when the rolling count reaches it.
    doc: 'SIEM API requests allowed per rolling 24 h (per credential and endpoint pool)',
    default: 1800,
    format: 'psr-positive-int',
  },
  PROOFPOINT_REQUEST_TIMEOUT: {
    // An hour of a large tenant can be hundreds of MB: the timeout covers the whole response.
    doc: 'Time allowed for one SIEM API request, body included',
    default: 60 * SECOND,
    format: 'psr-duration',
  },
  RECEIVER_CONFIG_FILE: {
    doc: 'JSON or YAML file with these same keys (the environment wins); --config overrides it',
    default: '',
    format: anyString,
  },
  RECEIVER_POLL_INTERVAL: {
    doc: 'How often to ask for new data when caught up (at least 30s)',
    default: 60 * SECOND,
    format: 'psr-duration',
  },
  RECEIVER_START_LOOKBACK: {
    doc: 'How far back to start when there is no cursor (at most 7d)',
    default: HOUR,
    format: 'psr-duration',
  },
  RECEIVER_STATE_DIR: {
    doc: 'Directory of the cursor and dedup state',
    default: './data',
    format: nonEmpty,
  },
  RECEIVER_NO_EVENTS_ALERT_AFTER: {
    doc: 'Raise the no-events alert after this long without an event',
    default: 24 * HOUR,
    format: 'psr-duration',
  },
  RECEIVER_HTTP_HOST: {
    doc: 'Address of the ops server (/healthz /readyz /status /metrics)',
    default: '0.0.0.0',
    format: nonEmpty,
  },
  RECEIVER_HTTP_PORT: {
    doc: 'Port of the ops server',
    // Not 13133, the OpenTelemetry Collector's health_check port (a clash in a shared pod or host). 13380 is none of
    // the Collector's, Fluent Bit's or Vector's ports, nor in the Prometheus exporter allocations (9100-9999 and above).
    default: 13380,
    format: 'psr-port',
  },
  RECEIVER_HTTP_AUTH_TOKEN_FILE: {
    // Read once at start. The ops port is reachable by anything in the cluster: /status, /metrics and the page
    // show tenant activity. The probes (/healthz, /readyz) stay open for the kubelet.
    doc: 'File holding a bearer token required for /status, /metrics and / on the ops server (probes stay open); unset: no token',
    default: '',
    format: anyString,
  },
  RECEIVER_LOG_LEVEL: {
    doc: "The receiver's own log level (JSON lines on stderr)",
    default: 'info',
    format: oneOf(LOG_LEVELS),
  },
  RECEIVER_BODY: {
    doc: 'Log record body: json, map or none',
    default: 'json',
    format: oneOf(BODY_MODES),
  },
  RECEIVER_ATTRIBUTE_SHAPE: {
    doc: 'flat (works with every shipper) or nested (maps)',
    default: 'flat',
    format: oneOf(ATTRIBUTE_SHAPES),
  },
  RECEIVER_INDICATORS: {
    doc: 'related.* attributes: every e-mail address, IP, URL, host name and hash an event mentions: true or false',
    default: 'true',
    format: oneOf(['true', 'false'] as const),
    file: 'boolean',
  },
  RECEIVER_STANDARD_FIELDS: {
    doc: 'email.*, url.*, client.address, source.address, user_agent.original beside proofpoint.*: true or false',
    default: 'true',
    format: oneOf(['true', 'false'] as const),
    file: 'boolean',
  },
  RECEIVER_OVERLAP: {
    // Events appear up to ~30 min after their window (indexing lag): late-event sweeps read each span again after it.
    doc: 'How late the API may index an event and it is still exported: sweeps read each span again at 10m and overlap + 5m (0 to 59m; 0: no sweeps)',
    default: 30 * MINUTE,
    format: 'psr-duration',
  },
  RECEIVER_RETRY_MAX_BACKOFF: {
    doc: 'Longest wait between retries of a failing SIEM API call or export (at least 1s)',
    default: DEFAULT_RETRY_MAX_BACKOFF_MS,
    format: 'psr-duration',
  },
  RECEIVER_NO_EVENTS_FAILS_READINESS: {
    // Default false: a quiet tenant is not a broken pod; restarting it would not bring events back.
    doc: 'Whether the no-events alert also makes /readyz fail: true or false',
    default: 'false',
    format: oneOf(['true', 'false'] as const),
    file: 'boolean',
  },
  RECEIVER_EXPORT_BATCH_SIZE: {
    // Also kept under 3 MiB per request; why 128: see defaults.ts.
    doc: 'Log records per OTLP export request',
    default: DEFAULT_EXPORT_BATCH_SIZE,
    format: 'psr-positive-int',
  },
  RECEIVER_EXPORT_CONCURRENCY: {
    doc: 'OTLP export requests in flight at once while a window streams in',
    default: DEFAULT_EXPORT_CONCURRENCY,
    format: 'psr-positive-int',
  },
  RECEIVER_WORKERS: {
    // auto: the CPUs this container may use (cgroup quota included), none on one CPU; see src/workers/cpus.ts.
    doc: 'Worker threads that parse, map and encode big windows: auto (one per CPU available, none on one CPU) or a number, 0 = all in the main thread',
    default: 'auto',
    format: 'psr-workers',
    file: 'number',
  },
  RECEIVER_WINDOW_MAX_EVENTS: {
    doc: 'Events in one window above which the following windows shrink (catch-up of big tenants)',
    default: DEFAULT_WINDOW_MAX_EVENTS,
    format: 'psr-positive-int',
  },
  RECEIVER_WINDOW_MAX_MB: {
    doc: 'Response megabytes in one window above which the following windows shrink',
    default: DEFAULT_WINDOW_MAX_MB,
    format: 'psr-positive-int',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: otel(`OTLP/HTTP base URL (${OTLP_LOGS_PATH} is appended; default ${DEFAULT_OTLP_HTTP_ENDPOINT}); grpc: scheme://host:port (default ${DEFAULT_OTLP_GRPC_ENDPOINT})`),
  OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: otel('OTLP/HTTP logs URL, used as-is; grpc: scheme://host:port'),
  OTEL_EXPORTER_OTLP_PROTOCOL: otel(`${DEFAULT_OTLP_PROTOCOL} (default), http/json or grpc`),
  OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: otel(`${DEFAULT_OTLP_PROTOCOL} (default), http/json or grpc, for logs`),
  OTEL_EXPORTER_OTLP_INSECURE: otel('grpc endpoint given as host:port (no scheme): true for plaintext, else TLS (default false)', 'boolean'),
  OTEL_EXPORTER_OTLP_LOGS_INSECURE: otel('the same, for logs', 'boolean'),
  OTEL_EXPORTER_OTLP_HEADERS: otel('key=value,... request headers (percent-encoded values)', 'list', true),
  OTEL_EXPORTER_OTLP_LOGS_HEADERS: otel('key=value,... request headers for logs', 'list', true),
  OTEL_EXPORTER_OTLP_COMPRESSION: otel('gzip or none (default)'),
  OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: otel('gzip or none, for logs'),
  OTEL_EXPORTER_OTLP_TIMEOUT: otel(`export timeout in milliseconds (default ${DEFAULT_OTLP_TIMEOUT_MS})`, 'number'),
  OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: otel('export timeout in milliseconds, for logs', 'number'),
  // File paths, read at load time (PEM). The key file's path may be shown; its contents never are.
  OTEL_EXPORTER_OTLP_CERTIFICATE: otel('PEM file of the CA(s) trusted for the collector (https); replaces the system CAs'),
  OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: otel('PEM CA file, for logs'),
  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: otel('PEM client certificate (chain) file for mutual TLS; needs the client key'),
  OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE: otel('PEM client certificate file, for logs'),
  OTEL_EXPORTER_OTLP_CLIENT_KEY: otel('PEM client private key file (unencrypted) for mutual TLS; never printed'),
  OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: otel('PEM client private key file, for logs'),
  OTEL_SERVICE_NAME: otel(`service.name resource attribute (default ${DEFAULT_SERVICE_NAME})`),
  OTEL_RESOURCE_ATTRIBUTES: otel('key=value,... resource attributes (percent-encoded)', 'list'),
  OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: otel('longest attribute string value kept (default: no limit)', 'number'),
  OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: otel('longest log record attribute value kept (default: OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT)', 'number'),
  OTEL_ATTRIBUTE_COUNT_LIMIT: otel(`attributes kept per record (default ${DEFAULT_ATTRIBUTE_COUNT_LIMIT})`, 'number'),
  OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: otel(`attributes kept per log record (default: OTEL_ATTRIBUTE_COUNT_LIMIT, else ${DEFAULT_ATTRIBUTE_COUNT_LIMIT})`, 'number'),
}

function otel(doc: string, file?: FileValueKind, sensitive = false): Setting<string> {
  return { doc, default: '', format: anyString, sensitive, file }
}

/** Every variable the receiver knows, in schema order: the keys of the environment and of a config file. */
export const CONFIG_VARIABLES: readonly ConfigVariable[] = Object.keys(SCHEMA) as ConfigVariable[]

/** Settings whose values are never shown: the secret, and OTLP headers (they usually carry credentials). */
export const SENSITIVE_VARIABLES: ReadonlySet<ConfigVariable> = new Set(CONFIG_VARIABLES.filter((name) => SCHEMA[name].sensitive))

export function fileValueKind(name: ConfigVariable): FileValueKind {
  const { file, default: value } = SCHEMA[name]
  return file ?? (typeof value === 'number' ? 'number' : Array.isArray(value) ? 'list' : 'string')
}

export function isConfigVariable(name: string): name is ConfigVariable {
  return Object.prototype.hasOwnProperty.call(SCHEMA, name)
}

/** A convict instance with the defaults, then `env` (variable → value) applied. `args: []`: no process.argv. */
export function createConvict(env: Partial<Record<ConfigVariable, string>>): convict.Config<RawConfig> {
  const schema = Object.fromEntries(CONFIG_VARIABLES.map((name) => [name, { ...SCHEMA[name], env: name }]))
  return convict<RawConfig>(schema as convict.Schema<RawConfig>, { env, args: [] })
}
