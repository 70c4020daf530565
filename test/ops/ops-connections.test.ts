/**
 * The ops port's connections (issue 11): a request whose headers are too large is answered 431 and the client,
 * still sending, reads it (no reset); connections that sit idle are closed by the server. Raw sockets on 127.0.0.1.
 */
import t, { type Test } from 'tap'
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { OPS_IDLE_TIMEOUT_MS, SECURITY_HEADERS, buildOpsServer } from '../../src/ops/server.js'
import { OPS_MAX_CONNECTIONS } from '../../src/ops/connections.js'
import { T0, newStatus, startOps } from '../helpers/ops.js'

/** A generous bound on "the server closed it": the test's idle timeout is 300 ms, the module default 5 s. */
const CLOSED_WITHIN_MS = 4_000

const start = (t: Test, app: FastifyInstance): Promise<{ base: string; port: number }> => startOps(t, app, { graceMs: 100 })

interface Session {
  /** All the server sent. */
  text: string
  /** The socket error the client saw (ECONNRESET, EPIPE), if any. */
  error?: string
  /** The server closed the connection (the client never ends it itself before that). */
  closed: boolean
}

/**
 * Connects, writes `request` `piece` bytes at a time (each after the previous one was taken by the kernel and a
 * macrotask passed, as a client on a real network sends), then waits for the server to close the connection,
 * at most `waitMs`. `end`: half-close after the last byte, as a client that sent its whole request does.
 * `readLast`: read nothing until the whole request is written (as a client that sends first, then reads).
 * `trickleMs`: the pause between pieces (1 ms by default).
 */
function session(port: number, request: Buffer, opts: { piece?: number; end?: boolean; waitMs?: number; readLast?: boolean; trickleMs?: number } = {}): Promise<Session> {
  const piece = opts.piece ?? Math.max(request.length, 1)
  return new Promise((resolve) => {
    const out: Session = { text: '', closed: false }
    // allowHalfOpen: like an HTTP client writing its request, keep sending after the server's answer and FIN.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (out.text += d))
    if (opts.readLast) socket.pause()
    socket.on('error', (err: NodeJS.ErrnoException) => (out.error ??= err.code ?? err.message))
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(out)
    }, opts.waitMs ?? CLOSED_WITHIN_MS)
    // The server closed it: its FIN ('end'; the client, half-open, then finishes sending) or a reset ('close').
    socket.on('end', () => {
      out.closed = true
      if (socket.writableEnded || !opts.end) socket.destroy()
    })
    socket.on('close', () => {
      clearTimeout(timer)
      out.closed = true
      resolve(out)
    })
    socket.on('connect', () => {
      let at = 0
      const next = (): void => {
        if (socket.destroyed || socket.writableEnded) return
        if (at >= request.length) {
          if (opts.end) socket.end()
          socket.resume()
          return
        }
        const chunk = request.subarray(at, at + piece)
        at += chunk.length
        socket.write(chunk, () => setTimeout(next, opts.trickleMs ?? 1))
      }
      next()
    })
  })
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0)

void t.test('a 100 KB header: 431 with Connection: close, read by a client still sending its request, not a reset', async (t) => {
  const { port } = await start(t, buildOpsServer({ status: newStatus(), now: () => T0 }))
  const request = Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(100 * 1024)}\r\n\r\n`, 'latin1')
  // All at once, and 8 KiB at a time: the answer then comes while most of the request is still to be sent; and by
  // a client that reads only once it has sent everything (a reset would lose the answer it has not read yet).
  for (const [piece, readLast] of [[request.length, false], [8 * 1024, false], [8 * 1024, true]] as const) {
    const how = `${piece} bytes at a time${readLast ? ', read last' : ''}`
    const r = await session(port, request, { piece, end: true, readLast })
    t.equal(r.error, undefined, `${how}: no reset, no broken pipe`)
    t.equal(statusOf(r.text), 431, `${how}: the client read the 431`)
    t.match(r.text, /\r\nconnection: close\r\n/i, 'the connection is closed after it')
    t.match(r.text, /\r\ncontent-type: application\/json; charset=utf-8\r\n/)
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) t.ok(r.text.toLowerCase().includes(`\r\n${name}: ${value.toLowerCase()}\r\n`), name)
    const body = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)) as { statusCode: number; message: string }
    t.equal(body.statusCode, 431)
    t.notMatch(body.message, /b{20}/, 'the header is not repeated')
    t.ok(r.closed, 'and the server closed the connection')
  }
})

void t.test('a client that never stops sending after the 431 is cut off', async (t) => {
  const { port } = await start(t, buildOpsServer({ status: newStatus(), now: () => T0 }))
  // 8 MB of header, far more than the server drains (1 MiB, 1 s): the server closes before the client is done.
  const request = Buffer.concat([Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ', 'latin1'), Buffer.alloc(8 * 1024 * 1024, 0x62)])
  const r = await session(port, request, { piece: 64 * 1024, waitMs: 10_000 })
  t.equal(statusOf(r.text), 431)
  t.ok(r.closed, 'the server closed the connection')
})

void t.test('idle connections are closed by the server: one that sends nothing, one idle after a keep-alive request', async (t) => {
  const { port } = await start(t, buildOpsServer({ status: newStatus(), now: () => T0, idleTimeoutMs: 300 }))
  const silent = await session(port, Buffer.alloc(0))
  t.ok(silent.closed, `a connection that sends nothing is closed within ${CLOSED_WITHIN_MS} ms`)
  t.equal(silent.error, undefined)

  const kept = await session(port, Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'))
  t.equal(statusOf(kept.text), 200, 'the request is answered')
  t.notMatch(kept.text, /connection: close/i, 'and the connection kept alive')
  t.ok(kept.closed, `then, idle, it is closed within ${CLOSED_WITHIN_MS} ms`)

  const partial = await session(port, Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n', 'latin1'))
  t.ok(partial.closed, 'a request that stops half-way is closed too')
})

void t.test('the default idle bound is set', async (t) => {
  const app = buildOpsServer({ status: newStatus(), now: () => T0 })
  t.teardown(() => app.close())
  t.equal(app.server.timeout, OPS_IDLE_TIMEOUT_MS, 'nothing sent, or a request waiting')
  t.equal(app.server.keepAliveTimeout, OPS_IDLE_TIMEOUT_MS, 'between keep-alive requests')
  t.ok(OPS_IDLE_TIMEOUT_MS > 0 && OPS_IDLE_TIMEOUT_MS <= 30_000)
})

void t.test('a request trickled in a byte at a time is cut off at its time, not up to 30 s later; connections are bounded', async (t) => {
  const app = buildOpsServer({ status: newStatus(), now: () => T0, requestTimeoutMs: 1_500 })
  t.equal(app.server.maxConnections, OPS_MAX_CONNECTIONS, 'a flood cannot take every file descriptor')
  const { port } = await start(t, app)
  const started = Date.now()
  // Each byte comes before the idle timeout (5 s): only the request timeout can end it. Node's default check
  // (every 30 s) answered ~30 s later; checked every second, it answers 1.5 to ~2.5 s after the start.
  const r = await session(port, Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'y'.repeat(200), 'latin1'), { piece: 1, waitMs: 20_000, trickleMs: 200 })
  const tookMs = Date.now() - started
  t.equal(statusOf(r.text), 408, 'Request Timeout')
  t.ok(tookMs < 15_000, `answered after ${tookMs} ms`)
})
