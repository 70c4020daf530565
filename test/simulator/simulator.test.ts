import t from 'tap'
import type { Test } from 'tap'
import { request } from 'undici'
import { EVENT_TYPES } from '../../src/siem/types.js'
import type { EventType, JsonObject, JsonValue, TimeWindow } from '../../src/siem/types.js'
import { forEachGeneratedEvent, generateEvents, generateMinute, minuteSeed, Rng, startSimulator } from '../../src/simulator/index.js'
import type { SiemSimulator, SimulatorOptions } from '../../src/simulator/index.js'

const PRINCIPAL = 'sim-principal'
const SECRET = 'sim-secret'
const AUTH = `Basic ${Buffer.from(`${PRINCIPAL}:${SECRET}`).toString('base64')}`
const H = 3_600_000
const NOW = Date.UTC(2026, 10, 24, 12, 30, 0)
const T11 = Date.UTC(2026, 10, 24, 11)
const T12 = Date.UTC(2026, 10, 24, 12)

/** A JSON value as text, without '[object Object]'. */
function str(v: JsonValue | undefined): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined'
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z')
}
function win(startMs: number, endMs: number): TimeWindow {
  return { start: new Date(startMs), end: new Date(endMs) }
}

async function sim(tt: Test, opts: Partial<SimulatorOptions> = {}): Promise<SiemSimulator> {
  const s = await startSimulator({ principal: PRINCIPAL, secret: SECRET, now: () => NOW, ...opts })
  tt.teardown(() => s.close())
  return s
}

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: Record<string, JsonValue> | undefined
}

async function get(s: SiemSimulator, path: string, query: Record<string, string> | string, auth: string | null = AUTH, method: 'GET' | 'POST' = 'GET'): Promise<Answer> {
  const qs = typeof query === 'string' ? query : new URLSearchParams(query).toString()
  const res = await request(`${s.url}${path}?${qs}`, { method, headers: auth === null ? {} : { authorization: auth } })
  const text = await res.body.text()
  let json: Record<string, JsonValue> | undefined
  if (res.statusCode === 200 && String(res.headers['content-type']).startsWith('application/json')) json = JSON.parse(text) as Record<string, JsonValue>
  return { status: res.statusCode, headers: res.headers, text, json }
}

function interval(startMs: number, endMs: number): Record<string, string> {
  return { format: 'json', interval: `${iso(startMs)}/${iso(endMs)}` }
}

function eventTime(e: JsonObject): number {
  return Date.parse(str(e.messageTime ?? e.clickTime))
}

function allEvents(r: Record<EventType, JsonObject[]>): JsonObject[] {
  return EVENT_TYPES.flatMap((k) => r[k])
}

t.test('the generator is a pure function of (seed, minute)', async (t) => {
  const opts = { seed: 7, eventsPerMinute: 20 }
  const m = Math.floor(T11 / 60_000)
  t.same(generateMinute(m, opts), generateMinute(m, opts))
  t.notSame(generateMinute(m, opts), generateMinute(m, { ...opts, seed: 8 }))
  t.notSame(generateMinute(m, opts), generateMinute(m + 1, opts))
  // Splitting a range anywhere gives the same events as the whole range.
  const whole = generateEvents(T11, T11 + 10 * 60_000, opts)
  const cut = T11 + 4 * 60_000 + 12_345
  const parts = [...generateEvents(T11, cut, opts), ...generateEvents(cut + 1, T11 + 10 * 60_000, opts)]
  t.same(parts, whole)
  t.same(generateEvents(5, 4, opts), [], 'end before start: nothing')
  for (let i = 1; i < whole.length; i++) if ((whole[i] as { timeMs: number }).timeMs < (whole[i - 1] as { timeMs: number }).timeMs) t.fail('not in time order')
  t.equal(minuteSeed(1, 2), minuteSeed(1, 2))
  t.not(minuteSeed(1, 2), minuteSeed(1, 3))
  const r = new Rng(1)
  const xs = Array.from({ length: 1000 }, () => r.float())
  t.ok(xs.every((x) => x >= 0 && x < 1))
  t.equal(new Rng(0).pick(['only']), 'only')
  t.same(generateMinute(m, { seed: 1, eventsPerMinute: 0 }), [])
})

t.test('generated events look like the API: shapes, variety, unique ids, multi-recipient messages', async (t) => {
  const opts = { seed: 1, eventsPerMinute: 6 }
  const events = generateEvents(T11 - 24 * H, T11, opts)
  t.ok(events.length > 24 * 60 * 6 * 0.9 && events.length < 24 * 60 * 6 * 1.2, `about 6 per minute: ${events.length}`)
  const ids = new Set(events.map((e) => e.event.id))
  t.equal(ids.size, events.length, 'ids are unique')
  const count = (type: EventType) => events.filter((e) => e.type === type).length / events.length
  t.ok(Math.abs(count('messagesDelivered') - 0.6) < 0.05, 'about 60% delivered (counting one event per recipient)')
  t.ok(Math.abs(count('messagesBlocked') - 0.2) < 0.04)
  t.ok(Math.abs(count('clicksPermitted') - 0.12) < 0.03)
  t.ok(Math.abs(count('clicksBlocked') - 0.08) < 0.03)

  const messages = events.filter((e) => e.type.startsWith('messages')).map((e) => e.event)
  const clicks = events.filter((e) => e.type.startsWith('clicks')).map((e) => e.event)
  // Shape problems are collected and asserted once, so a failure names every offender.
  const problems: string[] = []
  const check = (ok: boolean, what: string) => {
    if (!ok && problems.length < 20) problems.push(what)
  }
  for (const e of messages) {
    for (const k of ['GUID', 'QID', 'id', 'sender', 'senderIP', 'messageID', 'subject', 'cluster', 'headerFrom', 'messageTime']) check(typeof e[k] === 'string', `${str(e.id)}.${k}`)
    for (const k of ['spamScore', 'phishScore', 'impostorScore', 'malwareScore', 'messageSize']) {
      const v = e[k] as number
      check(Number.isInteger(v) && v >= 0 && (k === 'messageSize' || v <= 100), `${str(e.id)}.${k} = ${v}`)
    }
    const threats = e.threatsInfoMap as JsonObject[]
    check(threats.length >= 1 && threats.length <= 2, `${str(e.id)} threats`)
    for (const th of threats) {
      check(['phish', 'malware', 'spam', 'impostor'].includes(str(th.classification)), 'classification')
      check(['active', 'cleared', 'falsePositive'].includes(str(th.threatStatus)), 'threatStatus')
      check(['url', 'attachment', 'messageText'].includes(str(th.threatType)), 'threatType')
      check(/^[0-9a-f]{64}$/.test(str(th.threatID)), 'threatID')
    }
    const parts = e.messageParts as JsonObject[]
    check(parts.length >= 1 && parts.length <= 3, 'messageParts')
    for (const k of ['recipient', 'toAddresses', 'fromAddress', 'ccAddresses', 'replyToAddress', 'modulesRun', 'policyRoutes']) check(Array.isArray(e[k]), k)
    check((e.recipient as string[]).length === 1, 'one recipient per event')
    check(typeof e.completelyRewritten === 'boolean', 'completelyRewritten')
    check(e.quarantineFolder === null || typeof e.quarantineFolder === 'string', 'quarantineFolder')
  }
  for (const e of clicks) {
    for (const k of ['clickIP', 'clickTime', 'url', 'userAgent', 'recipient', 'sender', 'senderIP', 'GUID', 'id', 'messageID', 'threatID', 'threatURL', 'threatTime', 'threatStatus', 'classification'])
      check(typeof e[k] === 'string', `${str(e.id)}.${k}`)
  }
  t.same(problems, [], 'every event has the documented shape')
  const texts = JSON.stringify(events.map((e) => e.event))
  t.match(texts, /"senderIP":"2001:db8:/, 'IPv6 senders')
  t.match(texts, /"senderIP":"\d+\.\d+\.\d+\.\d+"/, 'IPv4 senders')
  t.match(texts, /"quarantineFolder":null/)
  t.match(texts, /"xmailer":null/)
  t.match(texts, /"campaignId":null/)
  t.match(texts, /Ärger|张伟|Счёт/, 'non-ASCII')
  t.match(texts, /\\"Quoted\\"/, 'quotes')
  const times = [...messages.map((e) => str(e.messageTime)), ...clicks.map((e) => str(e.clickTime))]
  t.ok(times.some((s) => /:\d\dZ$/.test(s)), 'whole seconds')
  t.ok(times.some((s) => /\.\d{3}Z$/.test(s)), 'milliseconds')
  t.ok(times.some((s) => /\.\d{3}\+00:00$/.test(s)), '+00:00 offset')
  t.ok(messages.some((e) => (e.messageParts as JsonObject[])[0]?.contentType !== 'text/plain'), 'messageParts in random order')

  // Multi-recipient: same GUID, one event per recipient, identical but for recipient, id and the parts order.
  const byGuid = new Map<string, JsonObject[]>()
  for (const e of messages) byGuid.set(str(e.GUID), [...(byGuid.get(str(e.GUID)) ?? []), e])
  const groups = [...byGuid.values()].filter((g) => g.length > 1)
  t.ok(groups.length > 50, `multi-recipient messages: ${groups.length}`)
  const canon = (e: JsonObject) =>
    JSON.stringify({ ...e, id: null, recipient: null, messageParts: (e.messageParts as JsonObject[]).map((p) => JSON.stringify(p)).sort() })
  for (const g of groups.slice(0, 50)) {
    const [a, b] = g as [JsonObject, JsonObject]
    t.equal(canon(a), canon(b))
    t.not(a.id, b.id)
    t.notSame(a.recipient, b.recipient)
    t.ok((a.toAddresses as string[]).includes((b.recipient as string[])[0] as string))
    t.not(a.messageParts, b.messageParts, 'no shared arrays between the copies')
  }
  let n = 0
  forEachGeneratedEvent(T11, T11 + 59_999, opts, () => n++)
  t.equal(n, generateMinute(Math.floor(T11 / 60_000), opts).length)
})

t.test('the generator is fast enough for the benchmark', async (t) => {
  const started = performance.now()
  let n = 0
  forEachGeneratedEvent(T11, T11 + 5 * 60_000, { seed: 3, eventsPerMinute: 4000 }, () => n++)
  const ms = performance.now() - started
  t.ok(n > 15_000)
  t.ok(ms / n < 100, `${((ms * 1000) / n).toFixed(1)} µs per event`)
})

t.test('the same window gives the same events, overlapping windows agree, and eventsIn matches the answer', async (t) => {
  const a = await sim(t, { eventsPerMinute: 20 })
  const b = await sim(t, { eventsPerMinute: 20 })
  const r1 = await get(a, '/v2/siem/all', interval(T11, T12))
  const r2 = await get(b, '/v2/siem/all', interval(T11, T12))
  t.equal(r1.status, 200)
  t.equal(r1.text, r2.text, 'two simulators, same seed: same bytes')
  t.equal(r1.text, (await get(a, '/v2/siem/all', interval(T11, T12))).text, 'asking again: same bytes')
  const body = r1.json as Record<EventType | 'queryEndTime', JsonValue>
  t.equal(body.queryEndTime, iso(T12))
  t.same(
    Object.fromEntries(EVENT_TYPES.map((k) => [k, body[k]])),
    a.eventsIn(win(T11, T12)),
  )
  t.equal(r1.headers['content-type'], 'application/json')
  t.equal(Number(r1.headers['content-length']), Buffer.byteLength(r1.text))
  // [11:00, 11:40] and [11:20, 12:00] agree on [11:20, 11:40].
  const first = a.eventsIn(win(T11, T11 + 40 * 60_000))
  const second = a.eventsIn(win(T11 + 20 * 60_000, T12))
  const inOverlap = (e: JsonObject) => eventTime(e) >= T11 + 20 * 60_000 && eventTime(e) <= T11 + 40 * 60_000
  for (const k of EVENT_TYPES) t.same(first[k].filter(inOverlap), second[k].filter(inOverlap), k)
  const other = await sim(t, { eventsPerMinute: 20, seed: 99 })
  t.not((await get(other, '/v2/siem/all', interval(T11, T12))).text, r1.text, 'another seed: other events')
})

t.test('START and END are both included; events are selected by their time', async (t) => {
  const s = await sim(t, { eventsPerMinute: 0 })
  const start = T11
  const end = T11 + 30 * 60_000
  s.inject('messagesDelivered', { id: 'at-start', messageTime: iso(start) })
  s.inject('messagesDelivered', { id: 'at-end', messageTime: '2026-11-24T11:30:00.000+00:00' })
  s.inject('clicksBlocked', { id: 'after-end', clickTime: new Date(end + 1).toISOString() })
  s.inject('clicksPermitted', { id: 'before-start', clickTime: new Date(start - 1).toISOString() })
  s.inject('clicksPermitted', { id: 'explicit-time' }, new Date(start + 5000))
  s.inject('messagesBlocked', { id: 'numeric-time' }, start + 6000)
  const r = await get(s, '/v2/siem/all', interval(start, end))
  const ids = allEvents(r.json as unknown as Record<EventType, JsonObject[]>).map((e) => e.id)
  t.same(ids.sort(), ['at-end', 'at-start', 'explicit-time', 'numeric-time'])
  t.throws(() => s.inject('messagesDelivered', { id: 'no-time' }), TypeError)
})

t.test('interval validation like the API: 400 with a message', async (t) => {
  const s = await sim(t)
  const bad: [string, Record<string, string>, RegExp][] = [
    ['29 s', interval(T11, T11 + 29_000), /at least 30 seconds/],
    ['1 h + 1 s', interval(T11, T12 + 1000), /at most 1 hour/],
    ['end before start', interval(T12, T11), /after its start/],
    ['end = start', interval(T11, T11), /after its start/],
    ['older than 7 days', interval(NOW - 7 * 24 * H - 60_000, NOW - 7 * 24 * H), /7 days/],
    ['malformed', { format: 'json', interval: '2026-11-24 11:00/2026-11-24 12:00' }, /not valid/],
    ['one time only', { format: 'json', interval: iso(T11) }, /not valid/],
    ['no selector', { format: 'json' }, /time selector is required/],
    ['two selectors', { ...interval(T11, T12), sinceSeconds: '60' }, /Only one time selector/],
    ['sinceSeconds too small', { format: 'json', sinceSeconds: '29' }, /sinceSeconds/],
    ['sinceSeconds too big', { format: 'json', sinceSeconds: '3601' }, /sinceSeconds/],
    ['sinceSeconds not a number', { format: 'json', sinceSeconds: '1e3' }, /sinceSeconds/],
    ['sinceTime malformed', { format: 'json', sinceTime: 'yesterday' }, /sinceTime/],
    ['sinceTime too old', { format: 'json', sinceTime: iso(NOW - H - 1000) }, /sinceTime/],
    ['sinceTime in the future', { format: 'json', sinceTime: iso(NOW + 1000) }, /future/],
    ['bad threatStatus', { ...interval(T11, T12), threatStatus: 'bogus' }, /threatStatus/],
    ['bad threatType', { ...interval(T11, T12), threatType: 'bogus' }, /threatType/],
    ['bad format', { ...interval(T11, T12), format: 'xml' }, /format/],
  ]
  for (const [name, q, re] of bad) {
    const r = await get(s, '/v2/siem/all', q)
    t.equal(r.status, 400, name)
    t.match(r.text, re, name)
  }
  for (const [name, q] of [
    ['30 s', interval(T11, T11 + 30_000)],
    ['1 h', interval(T11, T12)],
    ['7 days back', interval(NOW - 7 * 24 * H, NOW - 7 * 24 * H + H)],
    ['milliseconds and offsets', { format: 'json', interval: '2026-11-24T12:00:00.250+01:00/2026-11-24T11:30:00Z' }],
    ['encoded slash', `format=json&interval=${encodeURIComponent(`${iso(T11)}/${iso(T12)}`)}`],
  ] as const) {
    const r = await get(s, '/v2/siem/all', q)
    t.ok(r.status === 200 || r.status === 204, `${name}: ${r.status} ${r.text}`)
  }
})

t.test('sinceSeconds and sinceTime end now', async (t) => {
  const s = await sim(t, { eventsPerMinute: 30 })
  const r = await get(s, '/v2/siem/all', { format: 'json', sinceSeconds: '600' })
  t.equal(r.status, 200)
  t.equal(r.json?.queryEndTime, iso(NOW))
  const got = allEvents(r.json as unknown as Record<EventType, JsonObject[]>)
  t.same(got.map((e) => e.id).sort(), allEvents(s.eventsIn(win(NOW - 600_000, NOW))).map((e) => e.id).sort())
  const r2 = await get(s, '/v2/siem/all', { format: 'json', sinceTime: iso(NOW - 300_000) })
  t.same(allEvents(r2.json as unknown as Record<EventType, JsonObject[]>).length, allEvents(s.eventsIn(win(NOW - 300_000, NOW))).length)
})

t.test('format=json is required: the default answer is syslog text', async (t) => {
  const s = await sim(t, { eventsPerMinute: 10 })
  const q = { interval: `${iso(T11)}/${iso(T11 + 10 * 60_000)}` }
  for (const query of [q, { ...q, format: 'syslog' }]) {
    const r = await get(s, '/v2/siem/all', query)
    t.equal(r.status, 200)
    t.match(String(r.headers['content-type']), /^text\/plain/)
    t.match(r.text, /^<14>1 2026-11-24T11:0\d:\S+ tap-api-v2 siem - \w+ - type=\w+ GUID="/)
    t.throws(() => JSON.parse(r.text) as unknown)
  }
  const empty = await sim(t, { eventsPerMinute: 0 })
  t.equal((await get(empty, '/v2/siem/all', q)).status, 204)
})

t.test('basic auth is checked', async (t) => {
  const s = await sim(t)
  const q = interval(T11, T12)
  for (const auth of [null, `Basic ${Buffer.from(`${PRINCIPAL}:wrong`).toString('base64')}`, 'Bearer x', `Basic ${Buffer.from(SECRET).toString('base64')}`]) {
    const r = await get(s, '/v2/siem/all', q, auth)
    t.equal(r.status, 401)
    t.match(r.text, /credentials/)
    t.match(String(r.headers['www-authenticate']), /^Basic/)
  }
  t.same(
    s.requests.map((r) => r.authorized),
    [false, false, false, false],
  )
  t.equal((await get(s, '/v2/siem/all', q)).status, 200)
  t.equal(s.requests.at(-1)?.authorized, true)
  s.setCredentials('other', 'pw')
  t.equal((await get(s, '/v2/siem/all', q)).status, 401, 'rotated away')
})

t.test('204 with no body when the window is empty', async (t) => {
  const s = await sim(t, { eventsPerMinute: 0 })
  const r = await get(s, '/v2/siem/all', interval(T11, T12))
  t.equal(r.status, 204)
  t.equal(r.text, '')
  t.equal(s.requests[0]?.status, 204)
  t.equal(s.requests[0]?.events, 0)
})

t.test('a window that ends after now: 400 as the real API (default), or what it has with queryEndTime = now (clamp); Date is its clock', async (t) => {
  const now = T11 + 30 * 60_000
  const strict = await sim(t, { eventsPerMinute: 20, now: () => now })
  const refused = await get(strict, '/v2/siem/all', interval(T11, T12))
  t.equal(refused.status, 400)
  t.match(refused.text, /end time is in the future/)
  t.equal(refused.headers.date, new Date(now).toUTCString(), "the Date header is the simulator's clock, not the machine's")
  const clamped = await get(await sim(t, { eventsPerMinute: 20, now: () => now, futureEnd: 'clamp' }), '/v2/siem/all', interval(T11, T12))
  t.equal(clamped.status, 200)
  t.equal(clamped.json?.queryEndTime, iso(now), 'data through now')
})

t.test('no events later than now are served; they appear once the clock passes them', async (t) => {
  let now = T11 + 30 * 60_000
  const s = await sim(t, { eventsPerMinute: 20, now: () => now, futureEnd: 'clamp' })
  s.inject('messagesDelivered', { id: 'future', messageTime: new Date(now + 60_000).toISOString() })
  const r = await get(s, '/v2/siem/all', interval(T11, T12))
  const events = allEvents(r.json as unknown as Record<EventType, JsonObject[]>)
  t.ok(events.length > 100)
  t.ok(events.every((e) => eventTime(e) <= now), 'nothing after now')
  t.notOk(events.some((e) => e.id === 'future'))
  now = T12 + 60_000
  const later = allEvents((await get(s, '/v2/siem/all', interval(T11, T12))).json as unknown as Record<EventType, JsonObject[]>)
  t.ok(later.length > events.length * 1.5)
  t.ok(later.some((e) => e.id === 'future'))
  t.same(later.filter((e) => eventTime(e) <= T11 + 30 * 60_000).map((e) => e.id), events.map((e) => e.id), 'what was served before is unchanged')
  const future = await get(s, '/v2/siem/all', interval(now + 60_000, now + 120_000))
  t.equal(future.status, 204, 'a window in the future is empty')
})

t.test('indexing lag: recent events show up late, none are lost', async (t) => {
  let now = T12 + 60_000
  const s = await sim(t, { eventsPerMinute: 30, maxIndexingLagMs: 30 * 60_000, now: () => now })
  const early = allEvents(s.eventsIn(win(T11, T12)))
  now = T12 + 31 * 60_000
  const late = allEvents(s.eventsIn(win(T11, T12)))
  t.ok(early.length < late.length, `${early.length} visible at first, ${late.length} after the lag`)
  const lateIds = new Set(late.map((e) => e.id))
  t.ok(early.every((e) => lateIds.has(e.id)))
  const noLag = await sim(t, { eventsPerMinute: 30, now: () => now })
  t.same(late, allEvents(noLag.eventsIn(win(T11, T12))), 'after the lag: the same events as without lag')
})

t.test('single-type endpoints, issues, filters', async (t) => {
  const s = await sim(t, { eventsPerMinute: 30 })
  const expected = s.eventsIn(win(T11, T12))
  const paths: [string, EventType[]][] = [
    ['/v2/siem/messages/delivered', ['messagesDelivered']],
    ['/v2/siem/messages/blocked', ['messagesBlocked']],
    ['/v2/siem/clicks/permitted', ['clicksPermitted']],
    ['/v2/siem/clicks/blocked', ['clicksBlocked']],
    ['/v2/siem/issues', ['messagesDelivered', 'clicksPermitted']],
  ]
  for (const [path, types] of paths) {
    const r = await get(s, path, interval(T11, T12))
    t.same(Object.keys(r.json ?? {}).sort(), ['queryEndTime', ...types].sort(), path)
    for (const type of types) t.same(r.json?.[type], expected[type], `${path} ${type}`)
  }
  const active = (await get(s, '/v2/siem/all', { ...interval(T11, T12), threatStatus: 'active' })).json as unknown as Record<EventType, JsonObject[]>
  t.ok(active.messagesDelivered.length > 0 && active.messagesDelivered.length < expected.messagesDelivered.length)
  t.ok(active.messagesDelivered.every((e) => (e.threatsInfoMap as JsonObject[]).some((x) => x.threatStatus === 'active')))
  t.ok(active.clicksBlocked.every((e) => e.threatStatus === 'active'))
  const two = (await get(s, '/v2/siem/all', `${new URLSearchParams(interval(T11, T12)).toString()}&threatStatus=cleared&threatStatus=falsePositive`)).json as unknown as Record<EventType, JsonObject[]>
  t.ok(two.clicksPermitted.every((e) => e.threatStatus !== 'active'))
  const attachments = (await get(s, '/v2/siem/all', { ...interval(T11, T12), threatType: 'attachment' })).json as unknown as Record<EventType, JsonObject[]>
  t.same(attachments.clicksPermitted, [], 'clicks are url threats')
  t.ok(attachments.messagesBlocked.every((e) => (e.threatsInfoMap as JsonObject[]).some((x) => x.threatType === 'attachment')))
  const urls = (await get(s, '/v2/siem/all', { ...interval(T11, T12), threatType: 'url' })).json as unknown as Record<EventType, JsonObject[]>
  t.same(urls.clicksPermitted, expected.clicksPermitted)
})

t.test('an event that cannot be serialized gives a 500, and the simulator goes on', async (t) => {
  const s = await sim(t, { eventsPerMinute: 0 })
  const circular: JsonObject = { id: 'loop', messageTime: iso(T11 + 1000) }
  ;(circular as Record<string, unknown>).self = circular
  s.inject('messagesDelivered', circular)
  const r = await get(s, '/v2/siem/all', interval(T11, T12))
  t.equal(r.status, 500)
  t.match(r.text, /simulator error/)
  t.equal((await get(s, '/v2/siem/all', interval(T12, T12 + 60_000))).status, 204)
})

t.test('unknown paths and methods', async (t) => {
  const s = await sim(t)
  t.equal((await get(s, '/v2/siem/nope', interval(T11, T12))).status, 404)
  t.equal((await get(s, '/v2/siem/all', interval(T11, T12), AUTH, 'POST')).status, 405)
})

t.test('failNext: the next n requests get the canned reply, then service resumes', async (t) => {
  const s = await sim(t, { eventsPerMinute: 10 })
  s.failNext(2, { status: 503, headers: { 'retry-after': '3' }, body: 'maintenance' })
  s.failNext(1, { status: 429 })
  const q = interval(T11, T12)
  const r1 = await get(s, '/v2/siem/all', q)
  t.equal(r1.status, 503)
  t.equal(r1.text, 'maintenance')
  t.equal(r1.headers['retry-after'], '3')
  t.equal((await get(s, '/v2/siem/all', q, null)).status, 503, 'faults come before auth')
  t.equal((await get(s, '/v2/siem/all', q)).status, 429)
  t.equal((await get(s, '/v2/siem/all', q)).status, 200)
  t.same(
    s.requests.map((r) => [r.status, r.authorized]),
    [
      [503, true],
      [503, false],
      [429, true],
      [200, true],
    ],
  )
  t.same(s.requests[3]?.query, q)
  t.equal(s.requests[3]?.path, '/v2/siem/all')
  t.ok((s.requests[3]?.events ?? 0) > 0)
  s.failNext(1, { status: 200, body: '{}', delayMs: 150 })
  const started = Date.now()
  t.equal((await get(s, '/v2/siem/all', q)).text, '{}')
  t.ok(Date.now() - started >= 140, 'delayed')
})

t.test('a delayed fault whose client gives up does not break the simulator', async (t) => {
  const s = await sim(t)
  s.failNext(1, { status: 200, body: '{}', delayMs: 5000 })
  const ac = new AbortController()
  const pending = request(`${s.url}/v2/siem/all?format=json`, { signal: ac.signal })
  setTimeout(() => ac.abort(), 50)
  await t.rejects(pending)
  await new Promise((r) => setTimeout(r, 50))
  t.equal((await get(s, '/v2/siem/all', interval(T11, T12))).status, 200)
  await s.close()
  await s.close()
})

t.test('a large window streams out in pieces and parses back whole', async (t) => {
  const s = await sim(t, { eventsPerMinute: 1500 })
  const r = await get(s, '/v2/siem/all', interval(T11, T11 + 20 * 60_000))
  t.equal(r.status, 200)
  t.ok(Buffer.byteLength(r.text) > 10_000_000, `${(Buffer.byteLength(r.text) / 1e6).toFixed(1)} MB`)
  t.equal(Number(r.headers['content-length']), Buffer.byteLength(r.text))
  const n = allEvents(r.json as unknown as Record<EventType, JsonObject[]>).length
  t.equal(n, s.requests[0]?.events)
})

t.test('an IPv6 host is bracketed in the URL', async (t) => {
  let s: SiemSimulator
  try {
    s = await startSimulator({ host: '::1', principal: PRINCIPAL, secret: SECRET })
  } catch {
    t.comment('no IPv6 loopback here')
    return
  }
  t.teardown(() => s.close())
  t.match(s.url, /^http:\/\/\[::1\]:\d+$/)
})
