/** What the ops-server tests share: a status to serve, a real listening server, raw HTTP requests, a captured log. */
import type { Test } from 'tap'
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import type { FastifyInstance } from 'fastify'
import { closeOpsServer } from '../../src/ops/server.js'
import { ReceiverStatus } from '../../src/status/index.js'
import type { EventType } from '../../src/siem/types.js'

export const T0 = Date.parse('2024-05-01T00:00:00.000Z')
export const MIN = 60_000

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  text: string
}

export function newStatus(opts: { version?: string; eventTypes?: EventType[] } = {}): ReceiverStatus {
  return new ReceiverStatus({
    startedAt: T0,
    noEventsAlertAfterMs: 24 * 60 * MIN,
    pollIntervalMs: MIN,
    eventTypes: opts.eventTypes ?? ['messagesDelivered', 'messagesBlocked', 'clicksPermitted', 'clicksBlocked'],
    version: opts.version ?? '0.1.0',
  })
}

/** Listens on a free loopback port, closed when the test ends. */
export async function startOps(t: Test, app: FastifyInstance, opts: { graceMs?: number } = {}): Promise<{ base: string; port: number }> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => closeOpsServer(app, opts.graceMs === undefined ? undefined : { graceMs: opts.graceMs }))
  const { port } = app.server.address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, port }
}

/** One request; the path goes on the request line as given (new URL() would normalise `//status` and `/../`). */
export function send(base: string, method: string, path: string, opts: { agent?: Agent; body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base)
    const req = httpRequest({ hostname, port, path, method, agent: opts.agent ?? false, headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** A pino logger whose lines are kept in `lines`. */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'))
        cb()
      },
    }),
  )
  return { logger, lines }
}
