import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { ApiClock, CLOCK_AGREEMENT_MS, parseApiTime, parseHttpDate } from '../../src/siem/api-clock.js'
import { SiemClient } from '../../src/siem/client.js'

t.test('the API clock: the wall clock while they agree (never ahead of the last Date header), else the last Date header plus monotonic time since', async (t) => {
  let wall = Date.parse('2026-11-24T12:00:00.400Z')
  let mono = 1_000
  const clock = new ApiClock(
    () => wall,
    () => mono,
  )
  t.equal(clock.now(), wall, 'before any answer: the wall clock')
  t.equal(clock.skewMs(), undefined)
  clock.observe(Date.parse('2026-11-24T12:00:00Z'))
  t.equal(new Date(clock.now()).toISOString(), '2026-11-24T12:00:00.000Z', 'agreeing, the wall clock 400 ms past the header: the header (the API may be that much behind it)')
  wall -= 900
  t.equal(new Date(clock.now()).toISOString(), '2026-11-24T11:59:59.500Z', 'agreeing, behind it: the wall clock, with its milliseconds')
  wall += 900
  t.ok(CLOCK_AGREEMENT_MS >= 1000)
  // The wall clock jumps back 2 h; time goes on 90 s.
  wall -= 2 * 3_600_000 - 90_000
  mono += 90_000
  t.equal(new Date(clock.now()).toISOString(), '2026-11-24T12:01:30.000Z', 'the API time, however the wall clock jumped')
  t.equal(clock.skewMs(), wall - Date.parse('2026-11-24T12:01:30Z'))
  wall += 4 * 3_600_000
  t.equal(new Date(clock.now()).toISOString(), '2026-11-24T12:01:30.000Z', 'ahead too')
})

t.test('parseApiTime: RFC 3339 and the forms near it, as UTC; nothing else', async (t) => {
  const at = Date.parse('2026-11-24T11:30:00Z')
  for (const v of ['2026-11-24T11:30:00Z', '2026-11-24T11:30:00+00:00', '2026-11-24T06:30:00-05:00', '2026-11-24T17:00:00+0530', '2026-11-24T11:30Z', '2026-11-24T11:30:00.000', ' 2026-11-24t11:30:00z ']) {
    t.equal(parseApiTime(v), at, v)
  }
  t.equal(parseApiTime('2026-11-24T11:30:00.123456789Z'), at + 123)
  for (const v of ['', '1', 'soon', '2026-11-24', '2026-11-24 11:30:00Z', '2026-02-30T00:00:00Z', '2026-11-24T25:00:00Z', '2026-11-24T11:30:00+25:00']) t.equal(parseApiTime(v), undefined, JSON.stringify(v))
})

t.test('a saved cursor ahead of the wall clock: the API clock is at least there until its first answer', async (t) => {
  let wall = Date.parse('2026-11-24T12:00:00Z')
  let mono = 0
  const clock = new ApiClock(
    () => wall,
    () => mono,
  )
  clock.atLeast(Date.parse('2026-11-24T12:03:00Z'))
  mono += 1000
  wall += 1000
  t.equal(new Date(clock.now()).toISOString(), '2026-11-24T12:03:01.000Z', 'the cursor, moved on by the monotonic clock')
  clock.atLeast(Date.parse('2026-11-24T11:00:00Z'))
  t.equal(clock.now(), wall, 'a bound behind the wall clock: the wall clock')
  clock.observe(Date.parse('2026-11-24T11:59:00Z'))
  t.equal(new Date(clock.now()).toISOString(), '2026-11-24T11:59:00.000Z', 'an answer decides')
})

t.test('parseHttpDate takes IMF-fixdate only', async (t) => {
  t.equal(parseHttpDate('Tue, 24 Nov 2026 12:00:00 GMT'), Date.parse('2026-11-24T12:00:00Z'))
  t.equal(parseHttpDate(['Tue, 24 Nov 2026 12:00:00 GMT']), Date.parse('2026-11-24T12:00:00Z'))
  for (const bad of [undefined, '', '1', 'yesterday', '2026-11-24T12:00:00Z', 'Tue, 24 Nov 2026 12:00:00']) t.equal(parseHttpDate(bad), undefined, String(bad))
})

t.test('the SIEM client reports the Date header of every answer, errors included', async (t) => {
  let status = 200
  const server = createServer((_req, res) => {
    res.writeHead(status, { date: 'Tue, 24 Nov 2026 12:00:00 GMT', 'content-type': 'application/json' })
    res.end(status === 200 ? '{"queryEndTime":"2026-11-24T12:00:00Z","messagesDelivered":[]}' : '{"message":"The requested end time is in the future."}')
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const seen: number[] = []
  const client = new SiemClient({
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    principal: 'p',
    getSecret: () => 's',
    eventTypes: [],
    timeoutMs: 5000,
    onServerDate: (ms) => seen.push(ms),
  })
  t.teardown(() => client.close())
  const window = { start: new Date('2026-11-24T11:00:00Z'), end: new Date('2026-11-24T12:00:00Z') }
  await client.fetchWindow(window)
  status = 400
  await t.rejects(client.fetchWindow(window), { code: 'PSR_ERR_SIEM_BAD_REQUEST' })
  t.same(seen, [Date.parse('2026-11-24T12:00:00Z'), Date.parse('2026-11-24T12:00:00Z')])
})
