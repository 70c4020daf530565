/**
 * check-config's presentation of a loaded configuration: every setting with its effective value and its source,
 * secrets redacted by setting. TLS settings show file paths, never contents; URLs lose their user info and query
 * values.
 */
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
  const endpointBase = otel.logsEndpoint.endsWith(OTLP_LOGS_PATH) ? otel.logsEndpoint.slice(0, -OTLP_LOGS_PATH.length) : otel.logsEndpoint
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
