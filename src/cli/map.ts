/**
 * `map FILE|-`: a saved SIEM API JSON response → the records the receiver would export, as OTLP/JSON on stdout.
 * Uses the same parser and mapper as `run`, and no network.
 */
import { loadConfig } from '../config/index.js'
import { ConfigError } from '../errors.js'
import { toOtlpJson } from '../export/index.js'
import { mapResponse } from '../mapping/index.js'
import type { HrTime } from '../mapping/types.js'
import { BodyFormatError, SiemBodyParser } from '../siem/response-parser.js'
import { VERSION } from '../version.js'

export interface MapIo {
  env: Record<string, string | undefined>
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  now?: () => number
}

export function mapCommand(text: Buffer, io: MapIo): number {
  let settings
  try {
    // map uses no network: credentials are neither needed nor read.
    settings = loadConfig({
      env: { ...io.env, PROOFPOINT_PRINCIPAL: 'map-offline', PROOFPOINT_SECRET: 'unused', PROOFPOINT_SECRET_FILE: undefined },
    }).config
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`map: ${err.message}\n`)
      return 78
    }
    throw err
  }
  const parser = new SiemBodyParser()
  let parsed
  try {
    parser.write(text)
    parsed = parser.end()
  } catch (err) {
    if (err instanceof BodyFormatError) {
      io.stderr.write(`map: the input is not a SIEM API JSON response (GET /v2/siem/all?format=json): ${err.message}\n`)
      return 1
    }
    throw err
  }
  const nowMs = (io.now ?? Date.now)()
  const observed: HrTime = [Math.floor(nowMs / 1000), (nowMs % 1000) * 1e6]
  const records = mapResponse({ events: parsed.events, ...(parsed.queryEndTime ? { queryEndTime: parsed.queryEndTime } : {}) }, { attributeShape: settings.receiver.attributeShape, body: settings.receiver.body }, observed)
  io.stdout.write(`${toOtlpJson(records, {
      serviceName: settings.otel.serviceName,
      serviceVersion: VERSION,
      resourceAttributes: settings.otel.resourceAttributes,
    })}\n`)
  const malformed = records.filter((r) => r.malformed.length > 0)
  io.stderr.write(`map: ${records.length} records, ${malformed.length} malformed\n`)
  for (const r of malformed) io.stderr.write(`map: malformed ${r.eventType} ${r.uid.slice(0, 12)}: ${r.malformed.join('; ')}\n`)
  return 0
}
