import { randomUUID } from 'node:crypto'
import { SDK_INFO } from '@opentelemetry/core'
import { resourceFromAttributes } from '@opentelemetry/resources'
import type { Resource } from '@opentelemetry/resources'
import { NAME } from '../version.js'

/** The name of the instrumentation scope every record is emitted under (README, Mapping: resource / scope). */
export const SCOPE_NAME = NAME

/** `service.instance.id`: one random UUID per process, so two replicas never look like one. */
export const PROCESS_INSTANCE_ID: string = randomUUID()

export interface ResourceOptions {
  /** Already resolved: OTEL_SERVICE_NAME, else the configured default. Wins over a `service.name` in `resourceAttributes`. */
  serviceName: string
  serviceVersion: string
  /** OTEL_RESOURCE_ATTRIBUTES, parsed. They win over `service.version`, `service.instance.id` and `telemetry.sdk.*`. */
  resourceAttributes: Record<string, string>
}

/**
 * The resource of every exported record. A resource given to the LoggerProvider replaces the SDK's default one
 * entirely (no env detector, no `unknown_service`), so everything is spelled out here.
 */
export function buildResource(opts: ResourceOptions): Resource {
  return resourceFromAttributes({
    ...SDK_INFO,
    'service.instance.id': PROCESS_INSTANCE_ID,
    'service.version': opts.serviceVersion,
    ...opts.resourceAttributes,
    'service.name': opts.serviceName,
  })
}
