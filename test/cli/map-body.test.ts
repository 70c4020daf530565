/**
 * `map` reads a saved answer with the receiver's own streaming parser, so its `json` bodies are the file's bytes for
 * each event, as `run` exports them.
 */
import t from 'tap'
import { mapCommand } from '../../src/cli/map.js'
import { EVENT_TYPES } from '../../src/siem/types.js'
import { API_TEXTS, apiBody } from '../helpers/api-bytes.js'

function mapped(input: Buffer, env: Record<string, string>): { code: number; bodies: unknown[] } {
  let stdout = ''
  const sink = (write: (s: string) => void) => ({ write: (chunk: string | Uint8Array) => (write(chunk.toString()), true) }) as unknown as NodeJS.WritableStream
  const code = mapCommand(input, { env, stdout: sink((x) => (stdout += x)), stderr: sink(() => {}), now: () => 0 })
  const otlp = JSON.parse(stdout) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ body?: { stringValue?: string; kvlistValue?: unknown } }> }> }> }
  const bodies = otlp.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords.map((l) => l.body?.stringValue ?? l.body?.kvlistValue)))
  return { code, bodies }
}

t.test('map: each json body is the event text as the file holds it; map mode is the parsed event', (t) => {
  const json = mapped(apiBody(), {})
  t.equal(json.code, 0)
  t.same(json.bodies, EVENT_TYPES.flatMap((type) => API_TEXTS[type]), 'byte for byte: 0.0, 1e3, escapes, key order, white space')
  const asMap = mapped(apiBody(), { RECEIVER_BODY: 'map' })
  t.ok(asMap.bodies.every((b) => typeof b === 'object' && b !== null), 'RECEIVER_BODY=map: maps, not the text')
  t.end()
})
