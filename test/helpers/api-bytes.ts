/**
 * SIEM API events as hand-written JSON text, spelled the ways a serializer of ours would not reproduce (escapes that
 * `JSON.stringify` drops or writes differently, raw multibyte characters, `0.0`, `1e3`, `-0`, integer-like keys
 * out of order, a repeated key, white space inside): a record's `json` body must be these bytes, unchanged.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import type { Test } from 'tap'
import type { EventType } from '../../src/siem/types.js'

/** Raw U+2028 and U+2029 (valid inside JSON strings; JSON.stringify keeps them raw too, but a re-encoder might not). */
const LS = '\u2028'
const PS = '\u2029'

export const API_TEXTS: Record<EventType, string[]> = {
  messagesDelivered: [
    String.raw`{"GUID":"g-esc","id":"1","messageTime":"2026-11-24T11:30:00.000Z","subject":"a \"quoted\" \\ back\/slash \u00e9 \ud83d\ude00 \t\n \u0000 \u00E9","impostorScore":0.0,"spamScore":1e3,"phishScore":-0,"malwareScore":1E-7,"messageSize":12.50}`,
    `{"GUID":"g-uni","id":"2","messageTime":"2026-11-24T11:31:00.000Z","subject":"Ärger 张伟 📈 é😀 ${LS}${PS} \\u2028","toAddresses":["jürgen@bücher.example"]}`,
    '{\n  "GUID" : "g-ws",\r\n\t"id": "3",\n  "messageTime":\n    "2026-11-24T11:32:00.000Z" ,\n  "toAddresses" : [ "a@x.example" ,"b@x.example" ] ,\n  "threatsInfoMap":[ { "threatStatus" : "active" ,"threatType":"url" } ]\n}',
  ],
  messagesBlocked: [String.raw`{"zeta":1,"10":"ten","alpha":2,"2":"two","GUID":"g-order","id":"4","messageTime":"2026-11-24T11:33:00.000Z","spamScore":100.000,"big":12345678901234567890}`],
  clicksPermitted: [String.raw`{"GUID":"g-click","id":"5","clickTime":"2026-11-24T11:34:00.000Z","url":"https:\/\/evil.example\/a?b=c&d=\u0026","clickIP":"192.0.2.1","x":1,"x":2}`],
  clicksBlocked: [],
}

/** A SIEM API body holding `texts` as they are, laid out as a pretty-printer would (white space between the events). */
export function apiBody(texts: Record<EventType, string[]> = API_TEXTS, queryEndTime = '2026-11-24T12:00:00Z'): Buffer {
  const arrays = Object.entries(texts).map(([type, list]) => `  "${type}": [${list.length === 0 ? '' : `\n    ${list.join(',\n    ')}\n  `}]`)
  return Buffer.from(`{\n  "queryEndTime": "${queryEndTime}",\n${arrays.join(',\n')}\n}\n`)
}

/**
 * An HTTP server on 127.0.0.1 answering every request with `body`, written in pieces cut at `cuts` (ascending byte
 * offsets) a few ms apart, so that the client mostly reads them as separate chunks. Its base URL; closed with the test.
 */
export async function serveInPieces(tt: Test, body: Buffer, cuts: readonly number[], headers: Record<string, string> = {}): Promise<string> {
  const server = createServer((_req, res) => {
    void (async () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length), ...headers })
      let from = 0
      for (const cut of [...cuts, body.length]) {
        res.write(body.subarray(from, cut))
        from = cut
        await delay(5)
      }
      res.end()
    })()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  tt.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
