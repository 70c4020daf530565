import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { ApiClock, CLOCK_AGREEMENT_MS, parseHttpDate } from '../../src/siem/api-clock.js'
import { SiemClient } from '../../src/siem/client.js'

t.test('the API clock: the wall clock while they agree, else the last Date header plus monotonic time since', async (t) => {
  let wall = Date.parse('2026-11-24T12:00:00.400Z')
  let mono = 1_000
  const clock = new ApiClock(
    () => wall,
    () => mono,
  )
  t.equal(clock.now(), wall, 'before any answer: the wall clock')
  t.equal(clock.skewMs(), undefined)
  clock.observe(Date.parse('2026-11-24T12:00:00Z'))
  t.equal(clock.now(), wall, 'agreeing within the Date header resolution: the wall clock, with its milliseconds')
  t.ok(CLOCK_AGREEMENT_MS >= 1000)
  // The wall clock jumps back 2 h; time goes on 90 s.
  wall -= 2 * 3_600_000 - 90_000
  mono += 90_000
  t.equal(new Date(clock.now()).toISOString(), '2026-11-24T12:01:30.000Z', 'the API time, however the wall clock jumped')
  t.equal(clock.skewMs(), wall - Date.parse('2026-11-24T12:01:30Z'))
  wall += 4 * 3_600_000
  t.equal(new Date(clock.now()).toISOString(), '2026-11-24T12:01:30.000Z', 'ahead too')
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
