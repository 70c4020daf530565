/**
 * `map FILE|-`: a saved SIEM API JSON response → the records the receiver would export, as OTLP/JSON on stdout.
 * Uses the same parser and mapper as `run`, and no network.
 */
import { mappingOptions, recordOptions } from '../config/index.js'
import { toOtlpJson } from '../export/index.js'
import { mapResponse } from '../mapping/index.js'
import type { HrTime } from '../mapping/types.js'
import { BodyFormatError } from '../siem/body-format.js'
import { SiemBodyParser } from '../siem/response-parser.js'
import { EVENT_TYPES } from '../siem/types.js'
import { EXIT_CONFIG } from '../errors.js'
import { loadCommandConfig } from './command-config.js'

export interface MapIo {
  env: Record<string, string | undefined>
  /** `--config FILE`: read as `run` reads it. */
  configFile?: string
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  now?: () => number
}

export function mapCommand(text: Buffer, io: MapIo): number {
  const loaded = loadCommandConfig({
    command: 'map',
    stderr: io.stderr,
    env: io.env,
    configFile: io.configFile,
    // map uses no network: credentials are neither needed nor read (a production file's secret file may not be here).
    requireCredentials: false,
    fixed: { PROOFPOINT_PRINCIPAL: undefined, PROOFPOINT_SECRET: undefined, PROOFPOINT_SECRET_FILE: undefined },
  })
  if (!loaded) return EXIT_CONFIG
  const settings = loaded.config
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
  const events = EVENT_TYPES.reduce((n, t) => n + parsed.events[t].length, 0)
  // An empty body is what the API answers with 204 (no events); a JSON object without any of the four arrays is
  // something else (an error document, another API's answer, the wrong file), and mapping it to nothing would hide that.
  if (events === 0 && !parsed.empty && !hasEventArray(text)) {
    io.stderr.write(`map: warning: the input has none of ${EVENT_TYPES.join(', ')}: not a SIEM API response (GET /v2/siem/all?format=json)?\n`)
    return 1
  }
  const nowMs = (io.now ?? Date.now)()
  const observed: HrTime = [Math.floor(nowMs / 1000), (nowMs % 1000) * 1e6]
  // As `run` maps and builds them: body (each event's text as the file holds it), shape, resource and the attribute
  // limits (OTEL_*ATTRIBUTE*_LIMIT).
  const records = mapResponse(parsed, mappingOptions(settings), observed)
  io.stdout.write(`${toOtlpJson(records, recordOptions(settings))}\n`)
  const malformed = records.filter((r) => r.malformed.length > 0)
  io.stderr.write(`map: ${records.length} records, ${malformed.length} malformed\n`)
  for (const r of malformed) io.stderr.write(`map: malformed ${r.eventType} ${r.uid.slice(0, 12)}: ${r.malformed.join('; ')}\n`)
  return 0
}

/** Whether the (already validated, and event-less, so small) JSON object has one of the four event arrays. */
function hasEventArray(text: Buffer): boolean {
  let body: unknown
  try {
    body = JSON.parse(text.toString('utf8').replace(/^\uFEFF/, ''))
  } catch {
    return true // not for this check to judge: the parser accepted it
  }
  return typeof body === 'object' && body !== null && EVENT_TYPES.some((t) => Array.isArray((body as Record<string, unknown>)[t]))
}
