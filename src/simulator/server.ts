/**
 * A stand-in for the Proofpoint TAP SIEM API v2 on loopback, for `demo`, the tests and the benchmark. It behaves like
 * the API where the receiver depends on it (design §2): basic auth, syslog text unless `format=json`, one time selector
 * with the API's limits, the END time included, 204 for an empty window, the threat filters. Events come from the
 * generator plus any a test injects, none later than the simulator's clock (or, optionally, its indexing lag).
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ALL_EVENTS_PATH, EVENT_TYPES, EVENT_TYPE_PATHS } from '../siem/types.js'
import type { EventType, JsonObject, JsonValue, TimeWindow } from '../siem/types.js'
import { apiTime, forEachGeneratedEvent } from './generator.js'
import type { GeneratedEvent } from './generator.js'

export interface SimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string
  /** Default 0 (any free port). */
  port?: number
  principal: string
  secret: string
  /** Generator seed, default 1. */
  seed?: number
  /** Mean events per minute, default 6. */
  eventsPerMinute?: number
  /** The simulator's clock (epoch ms), default Date.now. Events later than now are not served. */
  now?: () => number
  /** Model the API's indexing lag: each event becomes visible a deterministic 0..maxIndexingLagMs after its time. Default 0. */
  maxIndexingLagMs?: number
  /** The share of events indexed late (0..1, default 1: every one gets a lag up to maxIndexingLagMs); the rest are visible at once. */
  lateShare?: number
  /**
   * An `interval` whose end is after the simulator's now: `reject` (default) answers 400 as the real API does; `clamp`
   * answers what it has, with `queryEndTime` = now (data through then), as an API that serves up to its present would.
   */
  futureEnd?: 'reject' | 'clamp'
}

/** A canned answer for the next request(s), whatever they ask. */
export interface FaultReply {
  status: number
  headers?: Record<string, string>
  /** The body: text (sent as UTF-8), or bytes as they are (an answer that is not valid UTF-8). */
  body?: string | Buffer
  /** Wait this long before answering (a slow or hanging API). */
  delayMs?: number
  /** Drop the connection instead of answering (after `delayMs`): a connection reset. `status` is not sent. */
  reset?: boolean
  /**
   * Send the headers with the full Content-Length, then only this many bytes of the body, then drop the connection:
   * a body cut off in the middle. The body is `body` when given, else the real answer to the request.
   */
  cutAfterBytes?: number
}

export type SimulatorRequestHook = (request: SimulatorRequest) => FaultReply | undefined | void
export type SimulatorResponseHook = (request: SimulatorRequest) => void

export interface SimulatorRequest {
  method: string
  path: string
  query: Record<string, string>
  authorized: boolean
  status: number
  /** Events in the answer (0 for errors and 204). */
  events: number
  /** Body bytes sent. */
  bytes: number
  /** Simulator clock when it answered. */
  at: number
  /** Set when a fault (failNext or an onRequest hook) answered instead: which kind. */
  fault?: 'reply' | 'reset' | 'cut'
}

export interface SiemSimulator {
  /** Base URL, e.g. `http://127.0.0.1:41234`: give it to the client as PROOFPOINT_BASE_URL. */
  readonly url: string
  /** Every request, in arrival order. */
  readonly requests: SimulatorRequest[]
  /** What GET /v2/siem/all?format=json would answer for `window` right now (no filters), END included. */
  eventsIn(window: TimeWindow): Record<EventType, JsonObject[]>
  /** Adds an event to the stream. Its time is `at`, or else its messageTime / clickTime. */
  inject(type: EventType, event: JsonObject, at?: Date | number): void
  /** The next `n` requests get `reply` instead of an answer. Calls queue up. */
  failNext(n: number, reply: FaultReply): void
  /** Change the credentials the simulator accepts (a rotated secret). */
  setCredentials(principal: string, secret: string): void
  /** Calls `hook` (replacing any earlier one) when a request arrives, its entry already in `requests`; a fault it returns answers. */
  onRequest(hook: SimulatorRequestHook | undefined): void
  /** Calls `hook` (replacing any earlier one) right after each answer was written, or the connection dropped by a fault. */
  onResponse(hook: SimulatorResponseHook | undefined): void
  close(): Promise<void>
}

/** API limits (design §2, Proofpoint TAP SIEM API documentation). */
const MIN_WINDOW_MS = 30_000
const MAX_WINDOW_MS = 3_600_000
const MAX_AGE_MS = 7 * 24 * 3_600_000
const THREAT_STATUSES = ['active', 'cleared', 'falsePositive']
const THREAT_TYPE_VALUES = ['url', 'attachment', 'messageText']

const ROUTES = new Map<string, readonly EventType[]>([
  [ALL_EVENTS_PATH, EVENT_TYPES],
  ['/v2/siem/issues', ['messagesDelivered', 'clicksPermitted']],
  ...EVENT_TYPES.map((t): [string, readonly EventType[]] => [EVENT_TYPE_PATHS[t], [t]]),
])

/** ISO-8601 date-time with a zone, as the API takes it. */
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/

function parseIso(s: string): number | undefined {
  if (!ISO_RE.test(s)) return undefined
  const t = Date.parse(s)
  return Number.isNaN(t) ? undefined : t
}

class BadRequest extends Error {}

interface Query {
  startMs: number
  endMs: number
  types: readonly EventType[]
  threatStatus: readonly string[]
  threatType: readonly string[]
  json: boolean
}

type Injected = Omit<GeneratedEvent, 'lag'>

/** A scalar as text; objects and arrays as JSON. */
function str(v: JsonValue | undefined): string {
  return v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)
}

function eventTimeOf(type: EventType, event: JsonObject): number | undefined {
  const v = type.startsWith('clicks') ? event.clickTime : event.messageTime
  if (typeof v !== 'string') return undefined
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : t
}

/** Does the event match the threatStatus / threatType filters (any threat of a message, the click's own threat)? */
function matchesFilters(type: EventType, event: JsonObject, statuses: readonly string[], threatTypes: readonly string[]): boolean {
  if (statuses.length === 0 && threatTypes.length === 0) return true
  if (type.startsWith('clicks')) {
    if (statuses.length > 0 && !statuses.includes(str(event.threatStatus))) return false
    return threatTypes.length === 0 || threatTypes.includes('url')
  }
  const threats = Array.isArray(event.threatsInfoMap) ? event.threatsInfoMap : []
  return threats.some((t: JsonValue) => {
    if (t === null || typeof t !== 'object' || Array.isArray(t)) return false
    return (statuses.length === 0 || statuses.includes(str(t.threatStatus))) && (threatTypes.length === 0 || threatTypes.includes(str(t.threatType)))
  })
}

/** Accumulates JSON text in ~1 MB buffers, so a response of hundreds of MB never becomes one string. */
class JsonArrayBuilder {
  readonly parts: Buffer[] = []
  private pending: string[] = []
  private pendingChars = 0
  private count = 0

  add(json: string): void {
    this.pending.push(this.count === 0 ? json : `,${json}`)
    this.pendingChars += json.length
    this.count++
    if (this.pendingChars > 1_000_000) this.flush()
  }

  flush(): void {
    if (this.pending.length === 0) return
    this.parts.push(Buffer.from(this.pending.join(''), 'utf8'))
    this.pending = []
    this.pendingChars = 0
  }
}

/** Resolves when the response can take more data or is gone, leaving no listeners behind. */
export function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

function syslogLine(type: EventType, event: JsonObject): string {
  const fields = Object.entries(event)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : str(v)}`)
  const time = str(type.startsWith('clicks') ? event.clickTime : event.messageTime)
  return `<14>1 ${time} tap-api-v2 siem - ${type} - type=${type} ${fields.join(' ')}\n`
}

/**
 * How late a generated event shows (SimulatorOptions maxIndexingLagMs, lateShare), from its deterministic `lag` in
 * [0, 1): the first `lateShare` of that range spread over 0..maxLagMs, the rest at once. Exported for the bench.
 */
export function indexingLagMs(lag: number, maxLagMs: number, lateShare = 1): number {
  return lag < lateShare ? Math.floor((lag / lateShare) * maxLagMs) : 0
}

export async function startSimulator(opts: SimulatorOptions): Promise<SiemSimulator> {
  const host = opts.host ?? '127.0.0.1'
  const now = opts.now ?? Date.now
  const gen = { seed: opts.seed ?? 1, eventsPerMinute: opts.eventsPerMinute ?? 6 }
  const maxLag = opts.maxIndexingLagMs ?? 0
  const lateShare = opts.lateShare ?? 1
  const futureEnd = opts.futureEnd ?? 'reject'
  let principal = opts.principal
  let secret = opts.secret
  const requests: SimulatorRequest[] = []
  const injected: Injected[] = []
  const faults: FaultReply[] = []
  let requestHook: SimulatorRequestHook | undefined
  let responseHook: SimulatorResponseHook | undefined

  /** Visits the events created in [startMs, endMs] that are visible at `nowMs`, in time order per type. */
  function collect(startMs: number, endMs: number, nowMs: number, visit: (type: EventType, event: JsonObject) => void): void {
    const until = Math.min(endMs, nowMs)
    const extra = injected.filter((e) => e.timeMs >= startMs && e.timeMs <= until).sort((a, b) => a.timeMs - b.timeMs)
    let next = 0
    forEachGeneratedEvent(startMs, until, gen, (e) => {
      while (next < extra.length && (extra[next] as Injected).timeMs <= e.timeMs) {
        const x = extra[next++] as Injected
        visit(x.type, x.event)
      }
      if (maxLag > 0 && e.timeMs + indexingLagMs(e.lag, maxLag, lateShare) > nowMs) return
      visit(e.type, e.event)
    })
    for (const x of extra.slice(next)) visit(x.type, x.event)
  }

  function parseQuery(path: string, params: URLSearchParams, nowMs: number): Query {
    const types = ROUTES.get(path) as readonly EventType[]
    const format = params.get('format')
    if (format !== null && format !== 'json' && format !== 'syslog') throw new BadRequest(`The format parameter must be "json" or "syslog", not "${format}".`)
    const selectors = ['interval', 'sinceSeconds', 'sinceTime'].filter((k) => params.has(k))
    if (selectors.length === 0) throw new BadRequest('A time selector is required: one of interval, sinceSeconds or sinceTime.')
    if (selectors.length > 1) throw new BadRequest(`Only one time selector may be given, got ${selectors.join(' and ')}.`)
    let startMs: number
    let endMs = nowMs
    if (params.has('interval')) {
      const interval = params.get('interval') as string
      const parts = interval.split('/')
      const s = parts.length === 2 ? parseIso(parts[0] as string) : undefined
      const e = parts.length === 2 ? parseIso(parts[1] as string) : undefined
      if (s === undefined || e === undefined) throw new BadRequest(`The interval "${interval}" is not valid: expected START/END in ISO-8601 format.`)
      if (e <= s) throw new BadRequest('The interval end time must be after its start time.')
      if (e - s < MIN_WINDOW_MS) throw new BadRequest('The requested interval is too short: it must be at least 30 seconds.')
      if (e - s > MAX_WINDOW_MS) throw new BadRequest('The requested interval is too long: it must be at most 1 hour.')
      if (s < nowMs - MAX_AGE_MS) throw new BadRequest('The requested start time is too far into the past: it must be within the last 7 days.')
      if (e > nowMs && futureEnd === 'reject') throw new BadRequest('The requested end time is in the future.')
      startMs = s
      endMs = Math.min(e, nowMs)
    } else if (params.has('sinceSeconds')) {
      const v = params.get('sinceSeconds') as string
      const n = /^\d+$/.test(v) ? Number(v) : NaN
      if (!(n >= 30 && n <= 3600)) throw new BadRequest(`sinceSeconds must be an integer from 30 to 3600, not "${v}".`)
      startMs = nowMs - n * 1000
    } else {
      const v = params.get('sinceTime') as string
      const t = parseIso(v)
      if (t === undefined) throw new BadRequest(`sinceTime "${v}" is not an ISO-8601 date-time.`)
      if (t > nowMs) throw new BadRequest('sinceTime is in the future.')
      if (nowMs - t > MAX_WINDOW_MS) throw new BadRequest('sinceTime is too far into the past: it must be within the last hour.')
      startMs = t
    }
    const threatStatus = params.getAll('threatStatus')
    const bad = threatStatus.find((s) => !THREAT_STATUSES.includes(s))
    if (bad !== undefined) throw new BadRequest(`Invalid threatStatus "${bad}": expected active, cleared or falsePositive.`)
    const threatType = params.getAll('threatType')
    const badType = threatType.find((s) => !THREAT_TYPE_VALUES.includes(s))
    if (badType !== undefined) throw new BadRequest(`Invalid threatType "${badType}": expected url, attachment or messageText.`)
    return { startMs, endMs, types, threatStatus, threatType, json: format === 'json' }
  }

  function isAuthorized(header: string | undefined): boolean {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '')
    return m !== null && Buffer.from(m[1] as string, 'base64').toString('utf8') === `${principal}:${secret}`
  }

  async function send(
    res: ServerResponse,
    status: number,
    headers: Record<string, string | number>,
    body: Buffer[] | string | undefined,
    cutAfterBytes?: number,
  ): Promise<number> {
    const chunks = typeof body === 'string' ? [Buffer.from(body, 'utf8')] : (body ?? [])
    const length = chunks.reduce((n, b) => n + b.length, 0)
    // The API's clock is the simulator's (Node would write the real time): the receiver reads it from here.
    res.writeHead(status, { date: new Date(now()).toUTCString(), ...headers, ...(status === 204 || status === 304 ? {} : { 'content-length': String(length) }) })
    let left = cutAfterBytes ?? Infinity
    for (const chunk of chunks) {
      if (res.destroyed) break
      const part = chunk.length > left ? chunk.subarray(0, left) : chunk
      left -= part.length
      if (!res.write(part)) await drainedOrClosed(res)
      if (left <= 0) break
    }
    if (cutAfterBytes !== undefined) {
      // A body cut off in the middle: what was promised by Content-Length never arrives.
      if (res.writableLength > 0 && !res.destroyed) await drainedOrClosed(res)
      res.destroy()
      return Math.min(cutAfterBytes, length)
    }
    res.end()
    return length
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator')
    const params = url.searchParams
    const entry: SimulatorRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(params),
      authorized: isAuthorized(req.headers.authorization),
      status: 0,
      events: 0,
      bytes: 0,
      at: now(),
    }
    requests.push(entry)
    let cutAfterBytes: number | undefined
    const reply = async (status: number, headers: Record<string, string | number>, body?: Buffer[] | string): Promise<void> => {
      entry.status = status
      entry.bytes = await send(res, status, headers, body, cutAfterBytes)
      responseHook?.(entry)
    }

    const fault = requestHook?.(entry) ?? faults.shift()
    if (fault) {
      entry.fault = fault.reset ? 'reset' : fault.cutAfterBytes !== undefined ? 'cut' : 'reply'
      if (fault.delayMs) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, fault.delayMs)
          res.once('close', () => {
            clearTimeout(timer)
            resolve()
          })
        })
        if (res.destroyed) {
          entry.status = fault.status
          return
        }
      }
      if (fault.reset) {
        req.socket.destroy()
        responseHook?.(entry)
        return
      }
      cutAfterBytes = fault.cutAfterBytes
      // With cutAfterBytes and no body of its own, the real answer is sent and cut.
      if (fault.cutAfterBytes === undefined || fault.body !== undefined) {
        await reply(fault.status, { 'content-type': 'text/plain; charset=utf-8', ...fault.headers }, typeof fault.body === 'object' ? [fault.body] : (fault.body ?? ''))
        return
      }
    }
    if (req.method !== 'GET') return reply(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' }, 'Method not allowed\n')
    if (!ROUTES.has(url.pathname)) return reply(404, { 'content-type': 'text/plain; charset=utf-8' }, 'Not found\n')
    if (!entry.authorized) {
      return reply(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="tap-api"' }, '{"message":"The credentials are invalid or missing."}\n')
    }
    const nowMs = now()
    let q: Query
    try {
      q = parseQuery(url.pathname, params, nowMs)
    } catch (err) {
      // parseQuery throws only BadRequest
      return reply(400, { 'content-type': 'text/plain; charset=utf-8' }, (err as BadRequest).message)
    }

    const wanted = new Set(q.types)
    if (!q.json) {
      const lines: string[] = []
      collect(q.startMs, q.endMs, nowMs, (type, event) => {
        if (wanted.has(type) && matchesFilters(type, event, q.threatStatus, q.threatType)) lines.push(syslogLine(type, event))
      })
      entry.events = lines.length
      if (lines.length === 0) return reply(204, {})
      return reply(200, { 'content-type': 'text/plain; charset=utf-8' }, lines.join(''))
    }

    const arrays = new Map<EventType, JsonArrayBuilder>(q.types.map((t) => [t, new JsonArrayBuilder()]))
    let total = 0
    collect(q.startMs, q.endMs, nowMs, (type, event) => {
      const builder = arrays.get(type)
      if (builder && matchesFilters(type, event, q.threatStatus, q.threatType)) {
        builder.add(JSON.stringify(event))
        total++
      }
    })
    entry.events = total
    if (total === 0) return reply(204, {})
    const chunks: Buffer[] = [Buffer.from(`{"queryEndTime":${JSON.stringify(apiTime(q.endMs, false))}`)]
    for (const [type, builder] of arrays) {
      builder.flush()
      chunks.push(Buffer.from(`,${JSON.stringify(type)}:[`), ...builder.parts, Buffer.from(']'))
    }
    chunks.push(Buffer.from('}'))
    return reply(200, { 'content-type': 'application/json' }, chunks)
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A bug or an unserializable injected event: say so, like an API server error would.
      /* c8 ignore next 4 -- writing the body does not throw once the headers are out */
      if (res.headersSent) {
        res.destroy()
        return
      }
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`simulator error: ${err instanceof Error ? err.message : String(err)}\n`)
    })
  })
  server.listen(opts.port ?? 0, host)
  await once(server, 'listening')
  const address = server.address() as AddressInfo
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`
  let closed: Promise<void> | undefined

  return {
    url,
    requests,
    eventsIn(window: TimeWindow): Record<EventType, JsonObject[]> {
      const out: Record<EventType, JsonObject[]> = { messagesDelivered: [], messagesBlocked: [], clicksPermitted: [], clicksBlocked: [] }
      collect(window.start.getTime(), window.end.getTime(), now(), (type, event) => out[type].push(event))
      return out
    },
    inject(type: EventType, event: JsonObject, at?: Date | number): void {
      const timeMs = at === undefined ? eventTimeOf(type, event) : typeof at === 'number' ? at : at.getTime()
      if (timeMs === undefined) throw new TypeError(`inject: the ${type} event has no readable time; pass one`)
      injected.push({ type, timeMs, event })
    },
    failNext(n: number, reply: FaultReply): void {
      for (let i = 0; i < n; i++) faults.push(reply)
    },
    setCredentials(p: string, s: string): void {
      principal = p
      secret = s
    },
    onRequest(hook: SimulatorRequestHook | undefined): void {
      requestHook = hook
    },
    onResponse(hook: SimulatorResponseHook | undefined): void {
      responseHook = hook
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closed
    },
  }
}
