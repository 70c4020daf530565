import type { AttributeShape, BodyMode } from '../mapping/types.js'
import type { ProxyChoice } from '../proxy.js'
import type { EventType } from '../siem/types.js'
import type { LogLevel } from './schema.js'
import type { TlsVariable } from './tls.js'

/** Where an effective setting came from (check-config prints it). */
export type ConfigSource = 'default' | 'file' | 'env' | 'arg'

export interface LoadedConfig {
  config: ReceiverConfig
  /** Where each variable's value came from, for every name in CONFIG_VARIABLES. */
  sources: Record<string, ConfigSource>
  configFile?: string
  /** The TLS file paths as given (for check-config); the files' contents are in `config.otel.tls`. */
  tlsFiles?: Partial<Record<TlsVariable, string>>
}

/** The validated configuration. Only main.ts builds it from process.env. */
export interface ReceiverConfig {
  proofpoint: {
    baseUrl: string
    principal: string
    /** Never logged. Read from PROOFPOINT_SECRET or, re-readable, from `secretFile`. */
    secret: string
    secretFile: string | undefined
    /** PROOFPOINT_CA_FILE and the PEM CA certificate(s) read from it at start; both absent when unset. */
    caFile?: string
    ca?: string
    /** The forward proxy for the SIEM API: PROOFPOINT_PROXY_URL, else HTTPS_PROXY/HTTP_PROXY unless NO_PROXY; absent: direct. */
    proxy?: ProxyChoice
    eventTypes: EventType[]
    threatStatus: string | undefined
    threatType: string | undefined
    requestBudget: number
    requestTimeoutMs: number
  }
  receiver: {
    pollIntervalMs: number
    startLookbackMs: number
    stateDir: string
    noEventsAlertAfterMs: number
    httpHost: string
    httpPort: number
    /** The token is read at start (trimmed), never logged or printed; both absent when unset. */
    httpAuthTokenFile?: string
    httpAuthToken?: string
    logLevel: LogLevel
    body: BodyMode
    attributeShape: AttributeShape
    indicators: boolean
    standardFields: boolean
    overlapMs: number
    retryMaxBackoffMs: number
    noEventsFailsReadiness: boolean
    exportBatchSize: number
    exportConcurrency: number
    /** RECEIVER_WORKERS as set; resolved to a number of threads by resolveWorkers (src/workers/cpus.ts). */
    workers: number | 'auto'
    windowMaxEvents: number
    /** RECEIVER_WINDOW_MAX_MB, in bytes. */
    windowMaxBytes: number
  }
  otel: {
    logsEndpoint: string
    /** HTTPS_PROXY/HTTP_PROXY unless NO_PROXY; absent: direct. */
    proxy?: ProxyChoice
    /** grpc: `logsEndpoint` is scheme://host:port (no path). */
    protocol: 'http/protobuf' | 'http/json' | 'grpc'
    headers: Record<string, string>
    compression: 'gzip' | 'none'
    timeoutMs: number
    /** OTEL_EXPORTER_OTLP_[LOGS_]INSECURE when set (used for a grpc endpoint given without a scheme). */
    insecure?: boolean
    serviceName: string
    resourceAttributes: Record<string, string>
    /** PEM text of the TLS files; absent when none is set. Used for https endpoints only. `key` is secret: never logged. */
    tls?: { ca?: string; cert?: string; key?: string }
    /** Absent when none is set: the SDK defaults then apply (no value length limit, 128 attributes). */
    logRecordLimits?: { attributeValueLengthLimit?: number; attributeCountLimit?: number }
  }
}
