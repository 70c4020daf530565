import type { AttributeShape, BodyMode } from '../mapping/types.js'
import type { ProxyChoice } from '../proxy.js'
import type { EventType } from '../siem/types.js'
import type { TlsVariable } from './tls.js'

/** Where an effective setting came from (check-config prints it). */
export type ConfigSource = 'default' | 'file' | 'env' | 'arg'

/** What loadConfig returns: the configuration and, for check-config, where each value came from. */
export interface LoadedConfig {
  config: ReceiverConfig
  /** Where each variable's value came from, for every name in CONFIG_VARIABLES. */
  sources: Record<string, ConfigSource>
  /** The config file that was read, if any. */
  configFile?: string
  /** The TLS file paths as given (for check-config); the files' contents are in `config.otel.tls`. */
  tlsFiles?: Partial<Record<TlsVariable, string>>
}

/** The validated configuration. Durations are milliseconds. Only main.ts builds it from process.env. */
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
    /**
     * RECEIVER_HTTP_AUTH_TOKEN_FILE and the token read from it at start (trimmed); both absent when unset. The token
     * is never logged or printed; check-config shows the file's path.
     */
    httpAuthTokenFile?: string
    httpAuthToken?: string
    logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
    body: BodyMode
    attributeShape: AttributeShape
    overlapMs: number
    /** RECEIVER_RETRY_MAX_BACKOFF: the longest wait between retries of a failing SIEM API call or export. */
    retryMaxBackoffMs: number
    /** RECEIVER_NO_EVENTS_FAILS_READINESS: the no-events alert also makes /readyz fail. */
    noEventsFailsReadiness: boolean
    /** RECEIVER_EXPORT_BATCH_SIZE: records per OTLP request. */
    exportBatchSize: number
    /** RECEIVER_EXPORT_CONCURRENCY: OTLP requests in flight while a window streams in. */
    exportConcurrency: number
    /** RECEIVER_WINDOW_MAX_EVENTS / RECEIVER_WINDOW_MAX_MB (in bytes): past these, later windows shrink. */
    windowMaxEvents: number
    windowMaxBytes: number
  }
  /** The standard OTEL_* settings the receiver itself uses; the exporters also read their own variables. */
  otel: {
    logsEndpoint: string
    /** The forward proxy for the OTLP export: HTTPS_PROXY/HTTP_PROXY unless NO_PROXY; absent: direct. */
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
    /**
     * PEM text read from OTEL_EXPORTER_OTLP_[LOGS_]CERTIFICATE (CA), _CLIENT_CERTIFICATE and _CLIENT_KEY (both or
     * neither); absent when none is set. Used for https endpoints only. `key` is secret: never logged.
     */
    tls?: { ca?: string; cert?: string; key?: string }
    /**
     * OTEL_LOGRECORD_ATTRIBUTE_{VALUE_LENGTH,COUNT}_LIMIT, else OTEL_ATTRIBUTE_*; absent when none is set (the SDK
     * defaults then apply: no value length limit, 128 attributes).
     */
    logRecordLimits?: { attributeValueLengthLimit?: number; attributeCountLimit?: number }
  }
}
