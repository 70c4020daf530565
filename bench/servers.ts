/**
 * The two HTTP servers every scenario talks to, run in the benchmark's parent process so that a child's peak RSS
 * and CPU are its own:
 *
 * - the SIEM API: the simulator, behind a front that answers the window under test from the simulator's own answer,
 *   fetched once before the scenarios run. The simulator builds its whole answer before the first byte (~3 s and the
 *   full body in memory at 300k events); caching it keeps generation out of every scenario's time. Any other request
 *   goes to the simulator itself and is counted as a miss.
 * - an OTLP/HTTP sink that reads each request, counts requests and bytes, and answers 200 with an empty protobuf
 *   ExportLogsServiceResponse. It does not decode: decoding would measure the sink.
 */
import { once } from 'node:events'
import http from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { drainedOrClosed } from '../src/simulator/server.js'

export interface SinkCounters {
  requests: number
  bytes: number
  /** Requests that were not POST /v1/logs. */
  other: number
}

export interface OtlpBenchSink {
  readonly url: string
  readonly counters: SinkCounters
  reset(): void
  close(): Promise<void>
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

export async function startBenchSink(): Promise<OtlpBenchSink> {
  const counters: SinkCounters = { requests: 0, bytes: 0, other: 0 }
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const isLogs = req.method === 'POST' && (req.url ?? '').split('?')[0] === '/v1/logs'
    req.on('data', (chunk: Buffer) => {
      counters.bytes += chunk.length
    })
    req.on('end', () => {
      if (!isLogs) {
        counters.other++
        res.writeHead(404, { 'content-length': '0' })
        res.end()
        return
      }
      counters.requests++
      // An empty ExportLogsServiceResponse: full success.
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' })
      res.end()
    })
  })
  server.keepAliveTimeout = 60_000
  const url = await listen(server)
  return {
    url,
    counters,
    reset() {
      counters.requests = 0
      counters.bytes = 0
      counters.other = 0
    },
    close: () => closeServer(server),
  }
}

interface CachedAnswer {
  status: number
  headers: Record<string, string>
  chunks: Buffer[]
  bytes: number
}

export interface SiemFront {
  readonly url: string
  /** Requests answered by the simulator itself (not from the prefetched answer). */
  misses: number
  /** Asks the simulator for `pathAndQuery` once and keeps the answer; returns its size. */
  prefetch(pathAndQuery: string, authorization: string): Promise<{ status: number; bytes: number }>
  /** Drops the kept answers. */
  clear(): void
  close(): Promise<void>
}

/** Path and query with `interval` bounds as epoch ms, so `…T11:00:00Z` and `…T11:00:00.000Z` are one key. */
function requestKey(pathAndQuery: string, authorization: string | undefined): string {
  const url = new URL(pathAndQuery, 'http://siem')
  const params = [...url.searchParams.entries()].map(([k, v]): string => {
    if (k !== 'interval') return `${k}=${v}`
    return `interval=${v
      .split('/')
      .map((s) => String(Date.parse(s)))
      .join('/')}`
  })
  return `${authorization ?? ''} ${url.pathname}?${params.sort().join('&')}`
}

function getAll(url: string, headers: Record<string, string>): Promise<CachedAnswer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = []
        let bytes = 0
        res.on('data', (c: Buffer) => {
          chunks.push(c)
          bytes += c.length
        })
        res.on('end', () => {
          const kept: Record<string, string> = {}
          for (const name of ['content-type', 'www-authenticate']) {
            const v = res.headers[name]
            if (typeof v === 'string') kept[name] = v
          }
          resolve({ status: res.statusCode ?? 0, headers: kept, chunks, bytes })
        })
        res.on('error', reject)
      })
      .on('error', reject)
  })
}

export async function startSiemFront(simulatorUrl: string): Promise<SiemFront> {
  const cache = new Map<string, CachedAnswer>()
  const front = { misses: 0 }

  async function replay(res: ServerResponse, answer: CachedAnswer): Promise<void> {
    // No Date header: the receiver under test runs on a frozen clock, and a real Date would move its API clock on.
    res.sendDate = false
    res.writeHead(answer.status, { ...answer.headers, ...(answer.status === 204 ? {} : { 'content-length': String(answer.bytes) }) })
    for (const chunk of answer.chunks) {
      if (res.destroyed) return
      if (!res.write(chunk)) await drainedOrClosed(res)
    }
    res.end()
  }

  const server = http.createServer((req, res) => {
    const answer = cache.get(requestKey(req.url ?? '/', req.headers.authorization))
    if (answer) {
      replay(res, answer).catch(() => res.destroy())
      return
    }
    front.misses++
    const headers: Record<string, string> = {}
    if (req.headers.authorization) headers.authorization = req.headers.authorization
    const upstream = http.get(`${simulatorUrl}${req.url ?? '/'}`, { headers }, (up) => {
      const copy: Record<string, string> = {}
      for (const [k, v] of Object.entries(up.headers)) if (typeof v === 'string') copy[k] = v
      res.writeHead(up.statusCode ?? 502, copy)
      up.pipe(res)
    })
    upstream.on('error', () => res.destroy())
  })
  server.keepAliveTimeout = 60_000
  const url = await listen(server)
  return {
    url,
    get misses() {
      return front.misses
    },
    set misses(n: number) {
      front.misses = n
    },
    async prefetch(pathAndQuery, authorization) {
      const answer = await getAll(`${simulatorUrl}${pathAndQuery}`, { authorization })
      cache.set(requestKey(pathAndQuery, authorization), answer)
      return { status: answer.status, bytes: answer.bytes }
    },
    clear() {
      cache.clear()
    },
    close: () => closeServer(server),
  }
}
