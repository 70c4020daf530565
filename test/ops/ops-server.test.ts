import t, { type Test } from 'tap'
import { Agent } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildOpsServer, closeOpsServer } from '../../src/ops/server.js'
import { ReceiverStatus, type StatusSnapshot } from '../../src/status/index.js'
import { MIN, T0, captureLogger, newStatus, send, startOps, type Reply } from '../helpers/ops.js'


function json(r: Reply): unknown {
  return JSON.parse(r.text)
}

async function start(t: Test, app: FastifyInstance): Promise<string> {
  return (await startOps(t, app)).base
}

void t.test('good state: 200 on every route', async (t) => {
  const status = newStatus()
  let clock = T0 + MIN
  const app = buildOpsServer({ status, now: () => clock })
  const base = await start(t, app)
  status.setPhase('polling')
  status.setCursor('2024-05-01T00:00:00.000Z')
  status.recordPoll({ at: T0 + 30_000, outcome: 'ok', httpStatus: 200, events: 3 })
  status.recordExport({ at: T0 + 31_000, outcome: 'ok', records: 3 })
  status.count('messagesDelivered', { received: 3, exported: 3 })
  status.progress(T0 + 31_000)
  clock = T0 + 2 * MIN

  const h = await send(base, 'GET', '/healthz')
  t.equal(h.status, 200)
  t.same(json(h), { status: 'ok' })
  t.match(h.headers['content-type'], /^application\/json/)
  t.equal(h.headers['cache-control'], 'no-store')

  const r = await send(base, 'GET', '/readyz')
  t.equal(r.status, 200)
  t.same(json(r), { status: 'ready' })

  const s = await send(base, 'GET', '/status')
  t.equal(s.status, 200)
  const snap = json(s) as StatusSnapshot
  t.equal(snap.cursor, '2024-05-01T00:00:00.000Z')
  t.equal(snap.lagSeconds, 120)
  t.same(snap.lastPoll, { at: '2024-05-01T00:00:30.000Z', outcome: 'ok', httpStatus: 200, events: 3 })
  t.same(snap.lastExport, { at: '2024-05-01T00:00:31.000Z', outcome: 'ok', records: 3 })
  t.equal(snap.totals.exported, 3)
  t.same(snap.totals.byType.messagesDelivered, { received: 3, exported: 3, malformed: 0, duplicates: 0, rejected: 0, truncated: 0 })
  t.same(snap.noEvents, { alerting: false, thresholdSeconds: 86400, lastEventAt: null, silentSeconds: 120 })
  t.equal(snap.apiRequestsLast24h, 0)
  t.equal(snap.state, 'polling')

  const page = await send(base, 'GET', '/')
  t.equal(page.status, 200)
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(page.headers['x-frame-options'], 'DENY')
  t.match(page.text, /2 min behind/)
})

void t.test('bad state: 503 with reasons', async (t) => {
  const status = newStatus()
  let clock = T0
  const base = await start(t, buildOpsServer({ status, now: () => clock }))

  let r = await send(base, 'GET', '/readyz')
  t.equal(r.status, 503)
  t.same(json(r), { status: 'not ready', reasons: ['no successful SIEM API call yet'] })

  status.setAuthFailing(true)
  status.recordPoll({ at: T0, outcome: 'error', httpStatus: 401, events: 0, error: { code: 'PSR_ERR_SIEM_AUTH', message: 'refused' } })
  r = await send(base, 'GET', '/readyz')
  t.equal(r.status, 503)
  t.equal((json(r) as { reasons: string[] }).reasons.length, 3)

  const s = await send(base, 'GET', '/status')
  t.equal(s.status, 200, '/status answers whatever the state')
  t.same((json(s) as StatusSnapshot).lastPoll?.error, { code: 'PSR_ERR_SIEM_AUTH', message: 'refused' })

  clock = T0 + 6 * MIN
  const h = await send(base, 'GET', '/healthz')
  t.equal(h.status, 503)
  const body = json(h) as { status: string; reason: string }
  t.equal(body.status, 'unhealthy')
  t.match(body.reason, /stuck/)
  status.progress(clock)
  t.equal((await send(base, 'GET', '/healthz')).status, 200, 'a heartbeat revives it')
})

void t.test('HEAD works, other methods are 405, unknown routes 404 JSON', async (t) => {
  const base = await start(t, buildOpsServer({ status: newStatus(), now: () => T0 }))
  const head = await send(base, 'HEAD', '/healthz')
  t.equal(head.status, 200)
  t.equal(head.text, '')
  t.equal((await send(base, 'HEAD', '/status')).status, 200)

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    for (const path of ['/status', '/']) {
      const r = await send(base, method, path)
      t.equal(r.status, 405, `${method} ${path}`)
      t.equal(r.headers.allow, 'GET, HEAD')
    }
  }
  t.equal((await send(base, 'HEAD', '/')).status, 200)

  for (const path of ['/nope', '/metrics', '/healthz/', '/status/x?y=1', '/index.html']) {
    const r = await send(base, 'GET', path)
    t.equal(r.status, 404, path)
    t.match(r.headers['content-type'], /^application\/json/)
    const body = json(r) as { statusCode: number; message: string }
    t.equal(body.statusCode, 404)
    t.match(body.message, /\/, \/healthz, \/readyz, \/status$/, 'no /metrics without a metrics source')
    t.notMatch(r.text, /at .*\.js|node_modules|stack/i, 'no stack')
  }

  // Refused before the body is parsed: a broken body changes nothing.
  const bad = await send(base, 'POST', '/status', { body: '{"broken', headers: { 'content-type': 'application/json' } })
  t.equal(bad.status, 405)
  t.notMatch(bad.text, /at .*\.js|node_modules|stack/i)
})

void t.test('GET /metrics serves the metrics source with its content type', async (t) => {
  const contentType = 'text/plain; version=0.0.4; charset=utf-8'
  let renders = 0
  const metrics = {
    contentType,
    render: async (): Promise<string> => {
      renders++
      return `# HELP proofpoint_receiver_up x\n# TYPE proofpoint_receiver_up gauge\nproofpoint_receiver_up ${renders}\n`
    },
  }
  const base = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, metrics }))
  const r = await send(base, 'GET', '/metrics')
  t.equal(r.status, 200)
  t.equal(r.headers['content-type'], contentType)
  t.equal(r.headers['cache-control'], 'no-store')
  t.equal(r.text, '# HELP proofpoint_receiver_up x\n# TYPE proofpoint_receiver_up gauge\nproofpoint_receiver_up 1\n')
  t.match((await send(base, 'GET', '/metrics')).text, /proofpoint_receiver_up 2\n/, 'rendered per scrape')
  t.equal((await send(base, 'HEAD', '/metrics')).status, 200)
  const post = await send(base, 'POST', '/metrics')
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET, HEAD')
  const missing = json(await send(base, 'GET', '/nope')) as { message: string }
  t.match(missing.message, /\/status, \/metrics$/, 'listed among the routes')
  for (const path of ['/healthz', '/status', '/metrics']) {
    const h = await send(base, 'GET', path)
    t.equal(h.headers['x-content-type-options'], 'nosniff', `${path}: security headers on every answer`)
  }
})

void t.test('a failing metrics source is a generic 500, logged', async (t) => {
  const { logger, lines } = captureLogger()
  const metrics = { contentType: 'text/plain', render: (): Promise<string> => Promise.reject(new Error('registry broke')) }
  const base = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, metrics, logger }))
  const r = await send(base, 'GET', '/metrics')
  t.equal(r.status, 500)
  t.notMatch(r.text, /registry broke/)
  t.ok(lines.some((l) => l.includes('registry broke')), 'logged')
})

void t.test('internal errors are a generic 500, logged, never leaked', async (t) => {
  class Broken extends ReceiverStatus {
    override snapshot(): StatusSnapshot {
      throw new Error('secret internals /etc/passwd')
    }
  }
  const { logger, lines } = captureLogger()
  const status = new Broken({ startedAt: T0, noEventsAlertAfterMs: MIN, pollIntervalMs: MIN, eventTypes: [], version: 'x' })
  const base = await start(t, buildOpsServer({ status, now: () => T0, logger }))
  const r = await send(base, 'GET', '/status')
  t.equal(r.status, 500)
  t.same(json(r), { statusCode: 500, error: 'Internal Server Error', message: 'internal error; see the receiver log' })
  t.notMatch(r.text, /secret|passwd|at /)
  t.ok(lines.some((l) => l.includes('secret internals') && l.includes('"component":"ops-server"')), 'logged')
  t.notOk(lines.some((l) => l.includes('incoming request')), 'no per-request logs')
})

/** Sends requests one after another on one keep-alive connection until one fails. */
function busyClient(base: string): { agent: Agent; count: () => number; done: Promise<void> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  let n = 0
  const done = (async () => {
    for (;;) {
      try {
        const r = await send(base, 'GET', '/status', { agent })
        if (r.status !== 200 || r.headers.connection === 'close') return
        n++
      } catch {
        return
      }
    }
  })()
  return { agent, count: () => n, done }
}

async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5))
}

void t.test('close is quick while a client keeps a keep-alive connection busy', async (t) => {
  for (const how of ['closeOpsServer', 'app.close'] as const) {
    const app = buildOpsServer({ status: newStatus(), now: () => T0 })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    const client = busyClient(`http://127.0.0.1:${port}`)
    await waitFor(() => client.count() >= 20)
    const started = performance.now()
    await (how === 'closeOpsServer' ? closeOpsServer(app) : app.close())
    const ms = performance.now() - started
    t.comment(`${how} took ${ms.toFixed(1)} ms after ${client.count()} keep-alive requests`)
    t.ok(ms < 5000, `${how} returns quickly`)
    await client.done
    client.agent.destroy()
  }
})

void t.test('a request in flight when closing starts gets connection: close', async (t) => {
  const app = buildOpsServer({ status: newStatus(), now: () => T0 })
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let entered!: () => void
  const inHandler = new Promise<void>((r) => (entered = r))
  app.get('/slow', async () => {
    entered()
    await gate
    return { slow: true }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const pending = send(`http://127.0.0.1:${port}`, 'GET', '/slow', { agent })
  await inHandler
  const started = performance.now()
  const closed = app.close()
  await new Promise((r) => setTimeout(r, 20))
  release()
  const r = await pending
  t.equal(r.status, 200, 'the in-flight request is answered')
  t.equal(r.headers.connection, 'close')
  await closed
  const ms = performance.now() - started
  t.comment(`close with a request in flight took ${ms.toFixed(1)} ms`)
  t.ok(ms < 5000)
})

void t.test('closeOpsServer drops a connection that stays busy past the grace period', async (t) => {
  const app = buildOpsServer({ status: newStatus(), now: () => T0 })
  let entered!: () => void
  const inHandler = new Promise<void>((r) => (entered = r))
  app.get('/hang', () => {
    entered()
    return new Promise<never>(() => undefined)
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const pending = send(`http://127.0.0.1:${port}`, 'GET', '/hang').then(
    () => 'answered',
    () => 'dropped',
  )
  // Closing before the request reached its handler would answer it (503, connection: close): wait for the handler.
  await inHandler
  const started = performance.now()
  await closeOpsServer(app, { graceMs: 200 })
  const ms = performance.now() - started
  t.comment(`closeOpsServer with a hung request took ${ms.toFixed(1)} ms`)
  t.ok(ms < 5000)
  t.equal(await pending, 'dropped')
  await closeOpsServer(app)
  t.pass('closing twice is fine')
})
