import { LoggerProvider } from '@opentelemetry/sdk-logs'
import type { LogRecordLimits, ReadableLogRecord } from '@opentelemetry/sdk-logs'
import type { Logger } from '@opentelemetry/api-logs'
import type { Resource } from '@opentelemetry/resources'
import { UNSET_TIME } from '../mapping/types.js'
import type { LogRecordParts } from '../mapping/types.js'
import { CollectingLogRecordProcessor } from './collecting-processor.js'
import { buildResource, SCOPE_NAME } from './resource.js'
import type { ResourceOptions } from './resource.js'

export { UNSET_TIME }

export interface RecordFactoryOptions extends ResourceOptions {
  /** Passed to the SDK (its defaults: 128 attributes, unlimited length). sdk-logs 0.223 does not read OTEL_LOGRECORD_* itself. */
  logRecordLimits?: LogRecordLimits
}

/** Turns MappedRecords into SDK log records (resource, scope, attribute limits applied by the SDK itself). */
export class SdkRecordFactory {
  readonly resource: Resource
  /** The instrumentation scope's version (the receiver's version). */
  readonly scopeVersion: string
  private readonly provider: LoggerProvider
  private readonly processor = new CollectingLogRecordProcessor()
  private readonly logger: Logger

  constructor(opts: RecordFactoryOptions) {
    this.resource = buildResource(opts)
    this.scopeVersion = opts.serviceVersion
    this.provider = new LoggerProvider({
      resource: this.resource,
      processors: [this.processor],
      ...(opts.logRecordLimits ? { logRecordLimits: opts.logRecordLimits } : {}),
    })
    this.logger = this.provider.getLogger(SCOPE_NAME, opts.serviceVersion)
  }

  toSdkRecords(records: readonly LogRecordParts[]): ReadableLogRecord[] {
    for (const r of records) {
      this.logger.emit({
        eventName: r.eventName,
        timestamp: r.timestamp ?? UNSET_TIME,
        observedTimestamp: r.observedTimestamp,
        severityNumber: r.severityNumber,
        severityText: r.severityText,
        ...(r.body === undefined ? {} : { body: r.body }),
        attributes: r.attributes,
      })
    }
    const out = this.processor.take()
    if (out.length !== records.length) {
      // Only a disabled logger or a shut-down provider emits nothing; neither may happen silently.
      throw new Error(`the OpenTelemetry SDK produced ${out.length} log records for ${records.length} events (logger shut down?)`)
    }
    return out
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown()
  }
}
