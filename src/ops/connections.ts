import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { ConnectionError, FastifyInstance } from 'fastify'
import { SECURITY_HEADERS } from './request-guard.js'

/** The whole request (headers and body) must arrive within this long, so slow senders cannot hold sockets open. */
export const OPS_REQUEST_TIMEOUT_MS = 10_000
/** How often Node looks for requests past OPS_REQUEST_TIMEOUT_MS (its default, 30 s, let them run up to 40 s). */
export const OPS_CHECK_INTERVAL_MS = 1_000
/**
 * Connections the ops port holds at most. Probes and scrapes use one or two; a flood past this is closed at once
 * rather than taking the process's file descriptors. It can still crowd out the kubelet's probe: keep the ops port
 * behind a NetworkPolicy (examples/kubernetes).
 */
export const OPS_MAX_CONNECTIONS = 256
/**
 * A connection idle this long (before its first request, or between keep-alive requests) is closed. Node's keep-alive
 * default; shorter than any usual probe or scrape period, so a connection is closed while idle, not as it is reused.
 */
export const OPS_IDLE_TIMEOUT_MS = 5_000
/**
 * After answering a request that cannot be parsed (431: headers over node's 16 KiB; 400; 408), the connection is
 * half-closed and what the client is still sending is read and dropped for at most this long (and at most
 * OPS_ERROR_DRAIN_BYTES), then it is closed. Closing at once with unread data makes the kernel send a reset,
 * and a client still writing its request then gets ECONNRESET instead of the answer.
 */
const OPS_ERROR_DRAIN_MS = 1_000
const OPS_ERROR_DRAIN_BYTES = 1024 * 1024
const DEFAULT_CLOSE_GRACE_MS = 2000

/** By node's error code; 400 otherwise. */
const CLIENT_ERRORS: Readonly<Record<string, { code: number; message: string }>> = {
  HPE_HEADER_OVERFLOW: { code: 431, message: 'request line and headers are over 16 KiB' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 408, message: 'the request did not arrive in time' },
}

/** Fastify's clientErrorHandler, for requests node's parser refuses: the answer, a FIN, then a drain (OPS_ERROR_DRAIN_MS). */
export function clientErrorHandler(): (err: ConnectionError, socket: Socket) => void {
  /** Sockets being drained, with their bytesRead when draining began. */
  const draining = new WeakMap<Socket, number>()
  return (err, socket) => {
    const began = draining.get(socket)
    if (began !== undefined) {
      // The parser stays in its error state and reports each further chunk again: only the byte bound applies.
      if (socket.bytesRead - began > OPS_ERROR_DRAIN_BYTES) socket.destroy()
      return
    }
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    if (!socket.writable) {
      socket.destroy()
      return
    }
    const { code, message } = CLIENT_ERRORS[err.code] ?? { code: 400, message: 'malformed request' }
    const body = JSON.stringify({ statusCode: code, error: STATUS_CODES[code] ?? 'Bad Request', message })
    const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close', 'cache-control': 'no-store', ...SECURITY_HEADERS }
    const head = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')
    draining.set(socket, socket.bytesRead)
    const timer = setTimeout(() => socket.destroy(), OPS_ERROR_DRAIN_MS)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
    socket.on('data', () => {
      if (socket.bytesRead - (draining.get(socket) ?? 0) > OPS_ERROR_DRAIN_BYTES) socket.destroy()
    })
    socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\n${head}\r\n${body}`)
    socket.resume()
  }
}

/** `app.close()`, destroying after `graceMs` any connection still open (a busy keep-alive, a slow reader). Idempotent. */
export async function closeOpsServer(app: FastifyInstance, opts: { graceMs?: number } = {}): Promise<void> {
  const timer = setTimeout(() => app.server.closeAllConnections(), opts.graceMs ?? DEFAULT_CLOSE_GRACE_MS)
  timer.unref()
  try {
    await app.close()
  } finally {
    clearTimeout(timer)
  }
}
