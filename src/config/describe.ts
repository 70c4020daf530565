/** check-config's presentation of a loaded configuration: secrets redacted by setting, TLS files shown by path. */
import { redactUrl } from '../redact.js'
import { DEFAULT_ATTRIBUTE_COUNT_LIMIT, OTLP_LOGS_PATH } from './defaults.js'
import { formatDuration } from './duration.js'
import { CONFIG_VARIABLES, SENSITIVE_VARIABLES } from './schema.js'
import type { ConfigVariable } from './schema.js'
import type { TlsVariable } from './tls.js'
import type { ConfigSource, LoadedConfig } from './types.js'

const REDACTED = '[redacted]'
const UNSET = '(unset)'

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
 * Every setting with its effective value, for `check-config`. For the OTLP pairs, the `_LOGS_` row shows what the
 * receiver uses (whichever variable or default supplied it); the general row its own contribution, or that it is
 * overridden.
 */
export function describeConfig(loaded: LoadedConfig): ConfigRow[] {
  const { config, configFile } = loaded
  const source = (name: ConfigVariable): ConfigSource => loaded.sources[name] ?? 'default'
  const set = (name: ConfigVariable): boolean => source(name) !== 'default'
  const orUnset = (value: string | undefined): string => (value === undefined || value === '' ? UNSET : value)
  const pp = config.proofpoint
  const rc = config.receiver
  const otel = config.otel

  type Row = [string, ConfigSource]
  const pair = <G extends ConfigVariable, L extends ConfigVariable>(general: G, logs: L, effective: string, generalValue = effective) => {
    const generalText = !set(general) ? UNSET : set(logs) ? `(overridden by ${logs})` : generalValue
    return { [general]: [generalText, source(general)], [logs]: [effective, set(logs) ? source(logs) : source(general)] } as Record<G | L, Row>
  }
  const endpointBase = otel.logsEndpoint.endsWith(OTLP_LOGS_PATH) ? otel.logsEndpoint.slice(0, -OTLP_LOGS_PATH.length) : otel.logsEndpoint
  const insecureText = otel.insecure === undefined ? UNSET : `${otel.insecure}${otel.protocol === 'grpc' ? '' : ' (not used: only for grpc endpoints without a scheme)'}`
  // TLS rows show file paths (never contents); a path the http endpoint does not use says so.
  const tlsFiles = loaded.tlsFiles ?? {}
  const unused = otel.logsEndpoint.startsWith('https:') ? '' : ' (not used: the endpoint is not https)'
  const tlsPair = <G extends TlsVariable, L extends TlsVariable>(general: G, logs: L) => {
    const effective = tlsFiles[logs] ?? tlsFiles[general]
    return pair(general, logs, effective === undefined ? UNSET : `${effective}${unused}`, `${tlsFiles[general] ?? ''}${unused}`)
  }
  const lengthLimit = otel.logRecordLimits?.attributeValueLengthLimit
  const lengthText = lengthLimit === undefined ? '(no limit)' : String(lengthLimit)
  const countText = String(otel.logRecordLimits?.attributeCountLimit ?? DEFAULT_ATTRIBUTE_COUNT_LIMIT)
  const headerSource = set('OTEL_EXPORTER_OTLP_LOGS_HEADERS') ? source('OTEL_EXPORTER_OTLP_LOGS_HEADERS') : source('OTEL_EXPORTER_OTLP_HEADERS')
  const serviceNameSource: ConfigSource = set('OTEL_SERVICE_NAME')
    ? source('OTEL_SERVICE_NAME')
    : otel.resourceAttributes['service.name'] !== undefined
      ? source('OTEL_RESOURCE_ATTRIBUTES')
      : 'default'
  const apiProxy =
    pp.proxy === undefined
      ? '(unset: no proxy for the SIEM API)'
      : `${redactUrl(pp.proxy.url)}${pp.proxy.from === 'PROOFPOINT_PROXY_URL' ? '' : ` (from ${pp.proxy.from})`}`
  const caUnused = pp.baseUrl.startsWith('https:') ? '' : ' (not used: PROOFPOINT_BASE_URL is not https)'
  const otlpProxy = otel.proxy === undefined ? 'direct' : `${redactUrl(otel.proxy.url)} (from ${otel.proxy.from})`

  // A plain value comes from its own setting.
  const rows: Record<ConfigVariable, string | Row> = {
    PROOFPOINT_BASE_URL: redactUrl(pp.baseUrl),
    PROOFPOINT_PRINCIPAL: pp.principal,
    PROOFPOINT_SECRET: set('PROOFPOINT_SECRET') ? REDACTED : UNSET,
    PROOFPOINT_SECRET_FILE: orUnset(pp.secretFile),
    PROOFPOINT_CA_FILE: pp.caFile === undefined ? '(unset: the system CAs)' : `${pp.caFile}${caUnused}`,
    PROOFPOINT_PROXY_URL: `${apiProxy}; OTLP export: ${otlpProxy}`,
    PROOFPOINT_EVENT_TYPES: pp.eventTypes.join(','),
    PROOFPOINT_THREAT_STATUS: orUnset(pp.threatStatus),
    PROOFPOINT_THREAT_TYPE: orUnset(pp.threatType),
    PROOFPOINT_REQUEST_BUDGET: String(pp.requestBudget),
    PROOFPOINT_REQUEST_TIMEOUT: formatDuration(pp.requestTimeoutMs),
    RECEIVER_CONFIG_FILE: orUnset(configFile),
    RECEIVER_POLL_INTERVAL: formatDuration(rc.pollIntervalMs),
    RECEIVER_START_LOOKBACK: formatDuration(rc.startLookbackMs),
    RECEIVER_STATE_DIR: rc.stateDir,
    RECEIVER_NO_EVENTS_ALERT_AFTER: formatDuration(rc.noEventsAlertAfterMs),
    RECEIVER_HTTP_HOST: rc.httpHost,
    RECEIVER_HTTP_PORT: String(rc.httpPort),
    RECEIVER_HTTP_AUTH_TOKEN_FILE: orUnset(rc.httpAuthTokenFile),
    RECEIVER_LOG_LEVEL: rc.logLevel,
    RECEIVER_BODY: rc.body,
    RECEIVER_ATTRIBUTE_SHAPE: rc.attributeShape,
    RECEIVER_INDICATORS: String(rc.indicators),
    RECEIVER_STANDARD_FIELDS: String(rc.standardFields),
    RECEIVER_OVERLAP: formatDuration(rc.overlapMs),
    RECEIVER_RETRY_MAX_BACKOFF: formatDuration(rc.retryMaxBackoffMs),
    RECEIVER_NO_EVENTS_FAILS_READINESS: String(rc.noEventsFailsReadiness),
    RECEIVER_EXPORT_BATCH_SIZE: String(rc.exportBatchSize),
    RECEIVER_EXPORT_CONCURRENCY: String(rc.exportConcurrency),
    RECEIVER_WORKERS: String(rc.workers),
    RECEIVER_WINDOW_MAX_EVENTS: String(rc.windowMaxEvents),
    RECEIVER_WINDOW_MAX_MB: String(rc.windowMaxBytes / 1024 / 1024),
    // URLs show with their user info and query values redacted (an endpoint's query may carry an API key).
    ...pair('OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT', redactUrl(otel.logsEndpoint), redactUrl(endpointBase)),
    ...pair('OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_LOGS_PROTOCOL', otel.protocol),
    OTEL_EXPORTER_OTLP_HEADERS: set('OTEL_EXPORTER_OTLP_HEADERS') ? REDACTED : UNSET,
    OTEL_EXPORTER_OTLP_LOGS_HEADERS: [orUnset(encodeKeyValueList(otel.headers, true)), headerSource],
    ...pair('OTEL_EXPORTER_OTLP_COMPRESSION', 'OTEL_EXPORTER_OTLP_LOGS_COMPRESSION', otel.compression),
    ...pair('OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_LOGS_TIMEOUT', String(otel.timeoutMs)),
    ...pair('OTEL_EXPORTER_OTLP_INSECURE', 'OTEL_EXPORTER_OTLP_LOGS_INSECURE', insecureText),
    ...tlsPair('OTEL_EXPORTER_OTLP_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE'),
    ...tlsPair('OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE'),
    ...tlsPair('OTEL_EXPORTER_OTLP_CLIENT_KEY', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY'),
    OTEL_SERVICE_NAME: [otel.serviceName, serviceNameSource],
    OTEL_RESOURCE_ATTRIBUTES: orUnset(encodeKeyValueList(otel.resourceAttributes, false)),
    ...pair('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT', lengthText),
    ...pair('OTEL_ATTRIBUTE_COUNT_LIMIT', 'OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT', countText),
  }
  return CONFIG_VARIABLES.map((name) => {
    const row = rows[name]
    const [value, from] = typeof row === 'string' ? [row, source(name)] : row
    return { name, value: SENSITIVE_VARIABLES.has(name) && value !== UNSET && !value.includes(REDACTED) ? REDACTED : value, source: from }
  })
}
