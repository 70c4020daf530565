/**
 * The demo's record lines and banner: attacker-controlled text is shown escaped, never handed to the terminal raw.
 */
import t from 'tap'
import { listening } from '../../src/cli/demo.js'
import { escapeForTerminal, formatRecordLine } from '../../src/cli/format-record.js'
import { mapResponse } from '../../src/mapping/index.js'
import type { MappedRecord } from '../../src/mapping/types.js'

const RLO = '\u202e'

function message(over: Record<string, unknown>): Record<string, unknown> {
  return {
    GUID: 'guid-1',
    QID: 'q1',
    messageID: '<m1@example.com>',
    messageTime: '2024-05-01T00:00:00.000Z',
    sender: 'a@example.com',
    recipient: ['b@example.com'],
    subject: 'hello',
    messageParts: [{ contentType: 'application/pdf', disposition: 'attached', filename: 'report.pdf', md5: 'x', sha256: 'y', oContentType: 'application/pdf' }],
    threatsInfoMap: [],
    ...over,
  }
}

function records(events: Array<Record<string, unknown>>, shape: 'flat' | 'nested' = 'flat'): MappedRecord[] {
  return mapResponse(
    { events: { messagesDelivered: events as never[], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] } },
    { attributeShape: shape, body: 'none' },
    [0, 0],
  )
}

/** Characters that must never reach the terminal: C0/C1 controls, DEL, bidi controls, separators, lone surrogates. */
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]|[\ud800-\udfff]/u

t.test('a right-to-left override in a file name or subject is shown escaped, not as a spoofed name', (t) => {
  for (const shape of ['flat', 'nested'] as const) {
    const [r] = records([message({ subject: `pay ${RLO}cod.exe`, messageParts: [{ filename: `invoice${RLO}fdp.exe`, contentType: 'application/octet-stream' }] })], shape)
    const line = formatRecordLine(r!)
    t.notMatch(line, RLO, `${shape}: no raw U+202E`)
    t.match(line, 'invoice\\u202efdp.exe', `${shape}: the file name with the override escaped`)
    t.match(line, 'pay \\u202ecod.exe', `${shape}: the subject too`)
    t.notOk(RAW_UNSAFE.test(line), `${shape}: nothing unsafe left`)
  }
  t.end()
})

t.test('control characters are escaped, one record stays one line', (t) => {
  const [r] = records([message({ sender: 'evil\u001b[31m@example.com', subject: 'a\nb\rc\td\u0085e\u2028f\u2066g\u200fh' })])
  const line = formatRecordLine(r!)
  t.notOk(RAW_UNSAFE.test(line), 'nothing unsafe left')
  t.match(line, 'evil\\u001b[31m@example.com')
  t.match(line, 'a\\nb\\rc\\td\\u0085e\\u2028f\\u2066g\\u200fh')
  t.end()
})

t.test('with indicators on, the line names the hosts the event involves, escaped like the rest', (t) => {
  const event = message({ sender: 'x@evil.example', threatsInfoMap: [{ threat: 'https://bücher.example/\u202e' }] })
  const events = { messagesDelivered: [event] as never[], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
  const [on] = mapResponse({ events }, { attributeShape: 'flat', body: 'none', indicators: true }, [0, 0])
  const line = formatRecordLine(on!)
  t.match(line, 'hosts=evil.example,example.com,xn--bcher-kva.example')
  t.notOk(RAW_UNSAFE.test(line))
  t.notMatch(formatRecordLine(records([event])[0]!), 'hosts=', 'without indicators, no hosts')
  t.end()
})

t.test('escapeForTerminal: printable text untouched, emoji kept whole, lone surrogates escaped', (t) => {
  t.equal(escapeForTerminal('Grüße, 東京 ✓ 😀'), 'Grüße, 東京 ✓ 😀')
  t.equal(escapeForTerminal('\ud800x\udc00'), '\\ud800x\\udc00')
  t.equal(escapeForTerminal('\u0000\u007f\u009b'), '\\u0000\\u007f\\u009b')
  t.end()
})

t.test('a long value is cut by code points and never leaves half an escape or half a surrogate pair', (t) => {
  const [r] = records([message({ subject: '😀'.repeat(100) })])
  const line = formatRecordLine(r!)
  t.notOk(RAW_UNSAFE.test(line), 'no lone surrogate from the cut')
  t.match(line, /😀…"/)
  t.end()
})

t.test('the demo banner names where the ops server listens', (t) => {
  t.equal(listening({ address: '127.0.0.1', family: 'IPv4', port: 4000 }, '127.0.0.1'), 'listening on http://127.0.0.1:4000')
  t.equal(listening({ address: '0.0.0.0', family: 'IPv4', port: 13133 }, '0.0.0.0'), 'listening on 0.0.0.0:13133, all interfaces (http://127.0.0.1:13133 from this machine)')
  t.equal(listening({ address: '::', family: 'IPv6', port: 13133 }, '::'), 'listening on [::]:13133, all interfaces (http://[::1]:13133 from this machine)')
  t.equal(listening({ address: '::1', family: 'IPv6', port: 5 }, '::1'), 'listening on http://[::1]:5')
  t.end()
})
