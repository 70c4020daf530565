/** The options the receiver's parts are built with, in one place, so every command does it exactly as `run` does. */
import type { RecordFactoryOptions } from '../export/sdk-records.js'
import type { MappingOptions } from '../mapping/types.js'
import { siemSecretSource } from '../redact.js'
import type { SiemClientOptions } from '../siem/client.js'
import { VERSION } from '../version.js'
import { secretFileReader, secretGetter } from './secrets.js'
import type { ReceiverConfig } from './types.js'

/** The SIEM client's options; `more` adds what only the caller knows (e.g. `onServerDate`). */
export function siemClientOptions(config: ReceiverConfig, more: Partial<SiemClientOptions> = {}): SiemClientOptions {
  const pp = config.proofpoint
  return {
    baseUrl: pp.baseUrl,
    principal: pp.principal,
    getSecret: secretGetter(pp),
    eventTypes: pp.eventTypes,
    ...(pp.threatStatus ? { threatStatus: pp.threatStatus } : {}),
    ...(pp.threatType ? { threatType: pp.threatType } : {}),
    timeoutMs: pp.requestTimeoutMs,
    ...(pp.ca ? { ca: pp.ca } : {}),
    ...(pp.proxy ? { proxy: pp.proxy.url } : {}),
    ...more,
  }
}

/** The SIEM API credentials as a redactor's source, for text quoted from elsewhere (the collector's answers). */
export function siemSecrets(config: ReceiverConfig): () => string[] {
  const pp = config.proofpoint
  return siemSecretSource(pp.principal, pp.secret, secretFileReader(pp))
}

/** How events become log records: shape, body, the added attribute sets, and the value length limit the mapper applies. */
export function mappingOptions(config: ReceiverConfig): MappingOptions {
  const limit = config.otel.logRecordLimits?.attributeValueLengthLimit
  return {
    attributeShape: config.receiver.attributeShape,
    body: config.receiver.body,
    indicators: config.receiver.indicators,
    standardFields: config.receiver.standardFields,
    // The mapper cuts (and counts) long values itself, so the SDK's own silent cut never applies to event data.
    ...(limit === undefined ? {} : { attributeValueLengthLimit: limit }),
  }
}

/** What every exported record carries besides the event: the resource and the attribute limits. */
export function recordOptions(config: ReceiverConfig): RecordFactoryOptions {
  const otel = config.otel
  return {
    serviceName: otel.serviceName,
    serviceVersion: VERSION,
    resourceAttributes: otel.resourceAttributes,
    ...(otel.logRecordLimits ? { logRecordLimits: otel.logRecordLimits } : {}),
  }
}
