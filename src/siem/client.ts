/**
 * The Proofpoint TAP SIEM API client: one time window → one GET → the event arrays as they stream in (parsed as they
 * arrive: no limit on the body's size), or a typed error whose text quoted from the API has the secret redacted.
 */
import { pipeline } from 'node:stream'
import type { Transform } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import type { Dispatcher } from 'undici'
import { SiemApiError } from '../errors.js'
import { isLoopbackHost } from '../http-util.js'
import { parseHttpDate } from './api-clock.js'
import { bodyError, discard, headerValue, statusError } from './answer-errors.js'
import { BodyFormatError } from './body-format.js'
import { SiemConnection } from './connection.js'
import { SiemBodyParser, batchSize, noEvents } from './response-parser.js'
import { ALL_EVENTS_PATH, EVENT_TYPES, EVENT_TYPE_PATHS } from './types.js'
import type { EventBatch, EventType, RawMode, SiemResponse, TimeWindow } from './types.js'

export interface SiemClientOptions {
  /** The Proofpoint Domain, e.g. `https://tap-api-v2.proofpoint.com` (a path prefix is kept; user info is not allowed). */
  baseUrl: string
  principal: string
  /** Called for every request, so a rotated secret (file) is used from the next request on. */
  getSecret: () => string
  /** The event types to ask for; empty means all four. One type uses its own endpoint, several use /v2/siem/all. */
  eventTypes: readonly EventType[]
  /** Passed to the API as `threatStatus` (active, cleared, falsePositive). */
  threatStatus?: string | undefined
  /** Passed to the API as `threatType` (url, attachment, messageText). */
  threatType?: string | undefined
  /** Idle timeout: for the response headers, and for each gap between body chunks. */
  timeoutMs: number
  /** PEM CA certificates trusted instead of Node's roots (PROOFPOINT_CA_FILE, e.g. a TLS-inspecting proxy's); verification stays on. */
  ca?: string | Buffer | undefined
  /** Use this dispatcher instead of creating a pool; `close()` then leaves it open. */
  dispatcher?: Dispatcher
  /** Clock for Retry-After dates (tests). */
  now?: () => number
  /** A forward proxy (PROOFPOINT_PROXY_URL, HTTPS_PROXY/HTTP_PROXY), tunnelled with CONNECT; credentials in its URL go to it only. */
  proxy?: string
  /** Told the `Date` header of every answer (epoch ms), whatever its status: the API's clock (see ApiClock). */
  onServerDate?: (ms: number) => void
  /** Milliseconds on a clock that never jumps, for how long a request takes (`seconds`); performance.now by default. */
  elapsed?: () => number
}

/** One batch of parsed events, by type, in the order the API sent them, each with its own text. */
export type { EventBatch }

/** What the answer to a window held besides its events: known once its body was read to the end. */
export interface WindowSummary {
  /** HTTP status of the answer (200 or 204). */
  status: number
  /** Size of the response body as received (before any content decoding). */
  bytes: number
  events: number
  /** The API's `queryEndTime`: its data runs through this. */
  queryEndTime?: string
  /**
   * How long the request has taken the API so far: from sending it to the body's end (or to the last batch handed
   * over), reading included; the time the caller held the stream at a batch (mapping and exporting it) left out.
   */
  seconds?: number
}

/**
 * The events of one window as they stream in: iterating (once) starts the request, and reading the body waits while
 * the loop's body runs; `summary` is set once the body's end was reached. A request or body failure is thrown as a
 * typed SiemApiError; a failure inside the loop's body stays the caller's (the request is abandoned).
 */
export interface WindowEvents extends AsyncIterable<EventBatch> {
  readonly summary: WindowSummary | undefined
  /**
   * What a 2xx answer gave so far (its status, the body bytes read and the events handed over), from its first batch:
   * a body is read only as fast as the loop's body runs, so a caller that leaves the loop (an export failed) still had
   * an answer from the API.
   */
  readonly answered?: WindowSummary
  /**
   * Raw batches are parsed by the consumer (worker threads), after the body has ended: it calls this once it parsed
   * them all, or with the error for one that is not JSON, so that a source which reports its requests can say what
   * the answer really was. Optional for the consumer's source to implement; idempotent.
   */
  settle?(parseError?: unknown): void
}

/** Everything at once (check-config, tests): the events and the summary. */
export interface FetchWindowResult extends WindowSummary {
  response: SiemResponse
}

const DEFAULT_BATCH_EVENTS = 1000
const DECODERS = new Map<string, () => Transform>([['gzip', createGunzip], ['x-gzip', createGunzip], ['deflate', createInflate], ['br', createBrotliDecompress]])

/** ISO-8601 UTC without milliseconds, as the API documents: `2026-11-24T11:00:00Z`. */
export function formatApiTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export class SiemClient {
  private readonly connection: SiemConnection
  private readonly eventTypes: readonly EventType[]
  private readonly path: string
  private readonly filters: Record<string, string>

  constructor(private readonly opts: SiemClientOptions) {
    const url = new URL(opts.baseUrl)
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`baseUrl must be http(s), got ${url.protocol}`)
    if (url.username || url.password) throw new TypeError('baseUrl must not contain credentials')
    // Defence in depth (the config checks it too): the credentials never travel in clear text off this host.
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) throw new TypeError(`baseUrl must be https unless the host is loopback, got ${url.origin}`)
    const types = opts.eventTypes.length === 0 ? EVENT_TYPES : opts.eventTypes
    this.eventTypes = EVENT_TYPES.filter((t) => types.includes(t))
    const only = this.eventTypes.length === 1 ? this.eventTypes[0] : undefined
    this.path = url.pathname.replace(/\/+$/, '') + (only === undefined ? ALL_EVENTS_PATH : EVENT_TYPE_PATHS[only])
    this.filters = { ...(opts.threatStatus ? { threatStatus: opts.threatStatus } : {}), ...(opts.threatType ? { threatType: opts.threatType } : {}) }
    this.connection = new SiemConnection(url.origin, opts)
  }

  /** The request path and query for a window (no credentials in it; safe to log). */
  requestPath(window: TimeWindow): string {
    const q = new URLSearchParams({ format: 'json', interval: `${formatApiTime(window.start)}/${formatApiTime(window.end)}`, ...this.filters })
    return `${this.path}?${q.toString()}`
  }

  /**
   * The events created in `window` (both ends included), in batches of about `batchEvents`; an abort rejects with
   * `signal.reason`. `raw`: the batches hold the events' bytes, unparsed (EventBatch.raw), for worker threads.
   */
  events(window: TimeWindow, signal?: AbortSignal, batchEvents = DEFAULT_BATCH_EVENTS, raw: RawMode = false): WindowEvents {
    const result: { summary: WindowSummary | undefined; answered?: WindowSummary; [Symbol.asyncIterator]: () => AsyncGenerator<EventBatch> } = {
      summary: undefined,
      [Symbol.asyncIterator]: () =>
        this.stream(window, signal, batchEvents, raw, (summary, end) => {
          result.answered = summary
          if (end) result.summary = summary
        }),
    }
    return result
  }

  /** Asks for `window` and reads the whole answer (the events of every batch together; not their texts). */
  async fetchWindow(window: TimeWindow, signal?: AbortSignal): Promise<FetchWindowResult> {
    const response: SiemResponse = { events: noEvents() }
    const events = this.events(window, signal)
    for await (const batch of events) for (const type of EVENT_TYPES) response.events[type].push(...batch.events[type])
    const summary = events.summary!
    if (summary.queryEndTime !== undefined) response.queryEndTime = summary.queryEndTime
    return { ...summary, response }
  }

  /** Closes the pool (when the client created it). Idempotent. */
  close(): Promise<void> {
    return this.connection.close()
  }

  /** `read`: what was read so far, before each batch is handed over, and at the body's end (`end`). */
  private async *stream(window: TimeWindow, signal: AbortSignal | undefined, batchEvents: number, raw: RawMode, read: (summary: WindowSummary, end: boolean) => void): AsyncGenerator<EventBatch> {
    signal?.throwIfAborted()
    const path = this.requestPath(window)
    const elapsed = this.opts.elapsed ?? (() => performance.now())
    const started = elapsed()
    /** Time the caller held the stream at a yield: its own work (a body is read only as fast as it exports), not the API's. */
    let held = 0
    const seconds = (): number => (elapsed() - started - held) / 1000
    const { res, ctx } = await this.connection.send(path, signal)
    const { statusCode, headers, body } = res
    const serverDate = parseHttpDate(headers.date)
    if (serverDate !== undefined) this.opts.onServerDate?.(serverDate)
    if (statusCode < 200 || statusCode >= 300) throw await statusError(ctx, res, path, this.opts.now ?? Date.now)

    const parser = new SiemBodyParser(this.eventTypes, raw)
    let wire = 0
    let events = 0
    /** The body was read to its end; otherwise (an error, or the caller left the loop) it is discarded. */
    let finished = false
    try {
      const encoding = headerValue(headers, 'content-encoding')?.trim().toLowerCase()
      let source: AsyncIterable<Buffer> = body
      if (encoding && encoding !== 'identity') {
        const decoder = DECODERS.get(encoding)?.()
        if (!decoder) throw new BodyFormatError(`unsupported content-encoding "${encoding.slice(0, 40)}"`)
        body.on('data', (c: Buffer) => (wire += c.length))
        source = decoder
        pipeline(body, decoder, () => {})
      }
      // Parse errors are the API's answer going wrong; what the caller does with a batch (an export failing) is not
      // caught here: the generator is only resumed or returned at a yield, never thrown into.
      for await (const chunk of source) {
        if (source === body) wire += chunk.length
        parser.write(chunk)
        if (parser.pending >= batchEvents) {
          events += parser.pending
          read({ status: statusCode, bytes: wire, events, seconds: seconds() }, false)
          const handedOver = elapsed()
          yield parser.drain()
          held += elapsed() - handedOver
        }
      }
      const parsed = parser.end()
      const last: EventBatch = parsed.raw
        ? { events: parsed.events, raw: parsed.raw }
        : { events: parsed.events, texts: parsed.texts, ...(parsed.invalidUtf8 === undefined ? {} : { invalidUtf8: parsed.invalidUtf8 }) }
      const rest = batchSize(last)
      events += rest
      finished = true
      if (rest > 0) {
        read({ status: statusCode, bytes: wire, events, seconds: seconds() }, false)
        const handedOver = elapsed()
        yield last
        held += elapsed() - handedOver
      }
      read({ status: statusCode, bytes: wire, events, seconds: seconds(), ...(parsed.queryEndTime === undefined ? {} : { queryEndTime: parsed.queryEndTime }) }, true)
    } catch (err) {
      const error = bodyError(ctx, err, { status: statusCode, headers, bytes: wire, head: () => parser.headText() })
      if (error instanceof SiemApiError) error.seconds = seconds()
      throw error
    } finally {
      if (!finished) discard(body)
    }
  }
}
