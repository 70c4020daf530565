/**
 * A real OTLP/HTTP logs receiver for tests and the benchmark: POST /v1/logs with application/x-protobuf or
 * application/json (OTLP JSON), gzip or not, on 127.0.0.1. Both encodings are decoded into one plain structure,
 * so a test can assert what a collector would see, down to int vs double and nanosecond timestamps.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { gunzip as gunzipCallback } from 'node:zlib'
import protobuf from 'protobufjs'
import { countWaiter } from './count-waiter.js'

const gunzip = promisify(gunzipCallback)

/** The subset of opentelemetry/proto (common, resource, logs, collector/logs) a logs request uses. */
const OTLP_LOGS_PROTO = `
syntax = "proto3";
package opentelemetry.proto;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
message Resource {
  repeated KeyValue attributes = 1;
  uint32 dropped_attributes_count = 2;
}
enum SeverityNumber {
  SEVERITY_NUMBER_UNSPECIFIED = 0;
  SEVERITY_NUMBER_TRACE = 1; SEVERITY_NUMBER_TRACE2 = 2; SEVERITY_NUMBER_TRACE3 = 3; SEVERITY_NUMBER_TRACE4 = 4;
  SEVERITY_NUMBER_DEBUG = 5; SEVERITY_NUMBER_DEBUG2 = 6; SEVERITY_NUMBER_DEBUG3 = 7; SEVERITY_NUMBER_DEBUG4 = 8;
  SEVERITY_NUMBER_INFO = 9; SEVERITY_NUMBER_INFO2 = 10; SEVERITY_NUMBER_INFO3 = 11; SEVERITY_NUMBER_INFO4 = 12;
  SEVERITY_NUMBER_WARN = 13; SEVERITY_NUMBER_WARN2 = 14; SEVERITY_NUMBER_WARN3 = 15; SEVERITY_NUMBER_WARN4 = 16;
  SEVERITY_NUMBER_ERROR = 17; SEVERITY_NUMBER_ERROR2 = 18; SEVERITY_NUMBER_ERROR3 = 19; SEVERITY_NUMBER_ERROR4 = 20;
  SEVERITY_NUMBER_FATAL = 21; SEVERITY_NUMBER_FATAL2 = 22; SEVERITY_NUMBER_FATAL3 = 23; SEVERITY_NUMBER_FATAL4 = 24;
}
message LogRecord {
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  SeverityNumber severity_number = 2;
  string severity_text = 3;
  AnyValue body = 5;
  repeated KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  string event_name = 12;
}
message ScopeLogs {
  InstrumentationScope scope = 1;
  repeated LogRecord log_records = 2;
  string schema_url = 3;
}
message ResourceLogs {
  Resource resource = 1;
  repeated ScopeLogs scope_logs = 2;
  string schema_url = 3;
}
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
`

const root = protobuf.parse(OTLP_LOGS_PROTO).root
const RequestType = root.lookupType('opentelemetry.proto.ExportLogsServiceRequest')
/** toObject options: 64-bit integers as decimal strings (exact), enums as numbers, which oneof field is set. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: Number, oneofs: true, arrays: true, defaults: false }

export type AnyValueKind = 'string' | 'int' | 'double' | 'bool' | 'array' | 'kvlist' | 'bytes' | 'empty'

/** One received log record, normalised from either encoding. */
export interface SinkRecord {
  resource: Record<string, unknown>
  scope: { name: string; version: string }
  /** undefined when the record carries 0 ("unknown"). */
  timeUnixNano: bigint | undefined
  observedTimeUnixNano: bigint
  severityNumber: number
  severityText: string
  eventName: string
  /** Decoded AnyValue; undefined when the record has no body. */
  body: unknown
  bodyKind: AnyValueKind | undefined
  /** int64 → number when safe, else bigint; double → number; bytes → Uint8Array; kvlist → object; empty → null. */
  attributes: Record<string, unknown>
  attributeKinds: Record<string, AnyValueKind>
  droppedAttributesCount: number
  /** Index into `requests` of the request that carried it. */
  request: number
}

export interface SinkRequest {
  method: string
  path: string
  contentType: string | undefined
  /** The Content-Length header, when sent. */
  contentLength: number | undefined
  transferEncoding: string | undefined
  contentEncoding: string | undefined
  headers: http.IncomingHttpHeaders
  /** Bytes received (compressed, if it was). */
  wireBytes: number
  /** Bytes after gunzip. */
  bodyBytes: number
  records: number
  /** What the sink answered. */
  status: number
  /** Why the sink rejected it, if it did (decode failure, wrong content type, injected failure, …). */
  error?: string
  /** Epoch ms the request arrived. */
  receivedAt?: number
}

/** Called when a request arrives, before anything is read or answered (whatever the mode). */
export type SinkRequestHook = (arrival: { index: number; at: number; method: string; path: string }) => void
/**
 * Called right after an answer was written (res.end): the request, and its decoded records (those it delivered when
 * accepted; when an injected failure rejected it, those it carried, decoded for the test only).
 */
export type SinkResponseHook = (request: SinkRequest, records: readonly SinkRecord[]) => void

export type SinkMode = 'ok' | 'refuse' | 'reset' | 'hang'

export interface OtlpSinkOptions {
  /** 0 (default): any free port. */
  port?: number
  /** Answer 400 to chunked requests, as Fluent Bit's opentelemetry input does (fluent-bit #7678). */
  rejectChunked?: boolean
  /** Answer 413 to larger bodies (after gunzip). */
  maxBodyBytes?: number
}

export interface OtlpSink {
  readonly port: number
  /** http://127.0.0.1:PORT */
  readonly url: string
  /** http://127.0.0.1:PORT/v1/logs */
  readonly logsUrl: string
  /** Records of accepted requests, in arrival order. */
  readonly records: SinkRecord[]
  /** Every request, accepted or not. */
  readonly requests: SinkRequest[]
  /** Requests accepted since the sink started, and the most records one of them carried (clear() keeps both). */
  readonly accepted: { requests: number; maxRecords: number }
  /** Records of requests answered with an injected failure (failNext), decoded for the test; never delivered. */
  readonly rejected: SinkRecord[]
  /** Calls `hook` (replacing any earlier one; undefined removes it) when a request arrives, in every mode. */
  onRequest(hook: SinkRequestHook | undefined): void
  /** Calls `hook` (replacing any earlier one) right after each answer was written. */
  onResponse(hook: SinkResponseHook | undefined): void
  /** Answer the next n requests with this status (and headers, body) instead of accepting them. Queued after acceptNext. */
  failNext(n: number, status: number, headers?: Record<string, string>, body?: string): void
  /** Accept the next n requests before the failures queued after this call: acceptNext(1); failNext(1, 400). */
  acceptNext(n: number): void
  /**
   * Refuse, for good, every request holding a record `poison` picks (a collector that cannot take one record refuses
   * the whole request): answered `status` with `body`; its records go to `rejected`. Undefined stops it.
   */
  refuseRecords(poison: ((record: SinkRecord) => boolean) | undefined, status?: number, body?: string): void
  /** ok: accept; refuse: stop listening (connection refused); reset: drop the connection; hang: never answer. */
  setMode(mode: SinkMode): Promise<void>
  /** The status of a successful answer: 200 by default; Fluent Bit answers 201. */
  respondWith(status: number): void
  /** Resolves once `count` records were accepted; rejects after timeoutMs. */
  waitFor(count: number, timeoutMs?: number): Promise<void>
  /** Forget records, requests and pending failures. */
  clear(): void
  close(): Promise<void>
}

type Obj = Record<string, unknown>

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : []
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : ''
}

function int64(v: unknown): number | bigint {
  const big = BigInt(typeof v === 'string' || typeof v === 'number' ? v : 0)
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big
}

/** A decoded AnyValue (from toObject with oneofs) as a JS value plus its kind. */
function decodeAnyValue(v: unknown): { value: unknown; kind: AnyValueKind } {
  if (!isObj(v)) return { value: null, kind: 'empty' }
  switch (v.value) {
    case 'stringValue':
      return { value: str(v.stringValue), kind: 'string' }
    case 'boolValue':
      return { value: v.boolValue === true, kind: 'bool' }
    case 'intValue':
      return { value: int64(v.intValue), kind: 'int' }
    case 'doubleValue':
      return { value: Number(v.doubleValue), kind: 'double' }
    case 'bytesValue':
      return { value: v.bytesValue instanceof Uint8Array ? new Uint8Array(v.bytesValue) : new Uint8Array(), kind: 'bytes' }
    case 'arrayValue': {
      const values = isObj(v.arrayValue) ? arr(v.arrayValue.values) : []
      return { value: values.map((x) => decodeAnyValue(x).value), kind: 'array' }
    }
    case 'kvlistValue': {
      const values = isObj(v.kvlistValue) ? arr(v.kvlistValue.values) : []
      return { value: decodeKeyValues(values).values, kind: 'kvlist' }
    }
    default:
      return { value: null, kind: 'empty' }
  }
}

function decodeKeyValues(list: unknown[]): { values: Record<string, unknown>; kinds: Record<string, AnyValueKind> } {
  const values: Record<string, unknown> = {}
  const kinds: Record<string, AnyValueKind> = {}
  for (const kv of list) {
    if (!isObj(kv)) continue
    const key = str(kv.key)
    const { value, kind } = decodeAnyValue(kv.value)
    // defineProperty: a `__proto__` key must stay an own member, not replace the prototype.
    Object.defineProperty(values, key, { value, enumerable: true, writable: true, configurable: true })
    Object.defineProperty(kinds, key, { value: kind, enumerable: true, writable: true, configurable: true })
  }
  return { values, kinds }
}

function nanos(v: unknown): bigint {
  return BigInt(typeof v === 'string' || typeof v === 'number' ? v : 0)
}

/** The normalised records of one ExportLogsServiceRequest (as a toObject result). */
function normalise(request: Obj, requestIndex: number): SinkRecord[] {
  const out: SinkRecord[] = []
  for (const rl of arr(request.resourceLogs)) {
    if (!isObj(rl)) continue
    const resource = decodeKeyValues(isObj(rl.resource) ? arr(rl.resource.attributes) : []).values
    for (const sl of arr(rl.scopeLogs)) {
      if (!isObj(sl)) continue
      const scope = isObj(sl.scope) ? { name: str(sl.scope.name), version: str(sl.scope.version) } : { name: '', version: '' }
      for (const lr of arr(sl.logRecords)) {
        if (!isObj(lr)) continue
        const time = nanos(lr.timeUnixNano)
        const attrs = decodeKeyValues(arr(lr.attributes))
        const body = lr.body === undefined ? undefined : decodeAnyValue(lr.body)
        out.push({
          resource,
          scope,
          timeUnixNano: time === 0n ? undefined : time,
          observedTimeUnixNano: nanos(lr.observedTimeUnixNano),
          severityNumber: typeof lr.severityNumber === 'number' ? lr.severityNumber : 0,
          severityText: str(lr.severityText),
          eventName: str(lr.eventName),
          body: body?.value,
          bodyKind: body?.kind,
          attributes: attrs.values,
          attributeKinds: attrs.kinds,
          droppedAttributesCount: typeof lr.droppedAttributesCount === 'number' ? lr.droppedAttributesCount : 0,
          request: requestIndex,
        })
      }
    }
  }
  return out
}

/** Decodes a request body of either encoding into the toObject form (protobufjs accepts OTLP JSON via fromObject). */
export function decodeLogsRequest(body: Buffer, contentType: 'protobuf' | 'json'): Obj {
  const message =
    contentType === 'protobuf'
      ? RequestType.decode(body)
      : RequestType.fromObject(JSON.parse(body.toString('utf8')) as Obj)
  return RequestType.toObject(message, TO_OBJECT)
}

/** Decodes and normalises a request body; exported so the benchmark and tests can check captured payloads. */
export function decodeLogRecords(body: Buffer, contentType: 'protobuf' | 'json'): SinkRecord[] {
  return normalise(decodeLogsRequest(body, contentType), -1)
}

/** The records a request carried, whatever the sink answered (best effort: [] when it does not decode). */
async function decodeForTest(wire: Buffer, entry: SinkRequest, index: number): Promise<SinkRecord[]> {
  const type = (entry.contentType ?? '').split(';')[0]?.trim().toLowerCase()
  const format = type === 'application/x-protobuf' ? 'protobuf' : type === 'application/json' ? 'json' : undefined
  if (!format) return []
  try {
    const body = entry.contentEncoding === 'gzip' ? await gunzip(wire) : wire
    return normalise(decodeLogsRequest(body, format), index)
  } catch {
    return []
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

export async function startOtlpSink(opts: OtlpSinkOptions = {}): Promise<OtlpSink> {
  const records: SinkRecord[] = []
  const requests: SinkRequest[] = []
  const rejected: SinkRecord[] = []
  const accepted = { requests: 0, maxRecords: 0 }
  let arrivals = 0
  let requestHook: SinkRequestHook | undefined
  let responseHook: SinkResponseHook | undefined
  /** What to do with the next requests; empty: accept. */
  const script: Array<{ status: number; headers: Record<string, string>; body: string } | 'accept'> = []
  const delivered = countWaiter(
    () => records.length,
    'sink',
    () => `${requests.length} requests`,
  )
  let successStatus = 200
  let refusal: { poison: (record: SinkRecord) => boolean; status: number; body: string } | undefined
  let mode: SinkMode = 'ok'
  let closed = false

  const answer = (res: http.ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void => {
    const data = typeof body === 'string' ? Buffer.from(body) : body
    res.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': String(data.length) })
    res.end(data)
  }

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const receivedAt = Date.now()
    requestHook?.({ index: arrivals++, at: receivedAt, method: req.method ?? '', path: (req.url ?? '').split('?')[0] ?? '' })
    if (mode === 'reset') {
      req.socket.destroy()
      return
    }
    const wire = await readBody(req)
    if (mode === 'hang') return
    const h = req.headers
    const entry: SinkRequest = {
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0] ?? '',
      contentType: h['content-type'],
      contentLength: h['content-length'] === undefined ? undefined : Number(h['content-length']),
      transferEncoding: h['transfer-encoding'],
      contentEncoding: h['content-encoding'],
      headers: h,
      wireBytes: wire.length,
      bodyBytes: wire.length,
      records: 0,
      status: 0,
      receivedAt,
    }
    requests.push(entry)
    const reject = (status: number, error: string, headers: Record<string, string> = {}, body?: string): void => {
      entry.status = status
      entry.error = error
      answer(res, status, 'text/plain', body ?? error, headers)
    }

    if (entry.method !== 'POST') return reject(405, 'method not allowed')
    if (entry.path !== '/v1/logs') return reject(404, `no OTLP logs receiver at ${entry.path}`)
    const failure = script.shift()
    if (failure !== undefined && failure !== 'accept') {
      reject(failure.status, `injected failure ${failure.status}`, failure.headers, failure.body)
      const carried = await decodeForTest(wire, entry, requests.indexOf(entry))
      rejected.push(...carried)
      responseHook?.(entry, carried)
      return
    }
    if (opts.rejectChunked && entry.transferEncoding?.includes('chunked')) return reject(400, 'chunked requests are not supported')
    const type = (entry.contentType ?? '').split(';')[0]?.trim().toLowerCase()
    const format = type === 'application/x-protobuf' ? 'protobuf' : type === 'application/json' ? 'json' : undefined
    if (!format) return reject(415, `unsupported content type ${entry.contentType ?? '(none)'}`)

    let body = wire
    if (entry.contentEncoding === 'gzip') {
      try {
        body = await gunzip(wire)
      } catch (err) {
        return reject(400, `gzip: ${(err as Error).message}`)
      }
    } else if (entry.contentEncoding !== undefined && entry.contentEncoding !== 'identity') {
      return reject(415, `unsupported content encoding ${entry.contentEncoding}`)
    }
    entry.bodyBytes = body.length
    if (opts.maxBodyBytes !== undefined && body.length > opts.maxBodyBytes) return reject(413, `request of ${body.length} bytes is too large`)

    let decoded: SinkRecord[]
    try {
      decoded = normalise(decodeLogsRequest(body, format), requests.length - 1)
    } catch (err) {
      return reject(400, `cannot decode ${format}: ${(err as Error).message}`)
    }
    if (refusal !== undefined && decoded.some(refusal.poison)) {
      reject(refusal.status, `refused: ${refusal.body}`, {}, refusal.body)
      rejected.push(...decoded)
      responseHook?.(entry, decoded)
      return
    }
    entry.records = decoded.length
    entry.status = successStatus
    if (successStatus >= 200 && successStatus < 300) {
      accepted.requests++
      accepted.maxRecords = Math.max(accepted.maxRecords, decoded.length)
    }
    records.push(...decoded)
    // An empty ExportLogsServiceResponse: full success.
    if (format === 'protobuf') answer(res, successStatus, 'application/x-protobuf', Buffer.alloc(0))
    else answer(res, successStatus, 'application/json', '{}')
    responseHook?.(entry, decoded)
    delivered.wake()
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) answer(res, 500, 'text/plain', `sink error: ${String(err)}`)
    })
  })
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve((server.address() as AddressInfo).port)
      })
    })
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve()
      server.close(() => resolve())
      server.closeAllConnections()
    })

  const port = await listen(opts.port ?? 0)
  const url = `http://127.0.0.1:${port}`

  return {
    port,
    url,
    logsUrl: `${url}/v1/logs`,
    records,
    requests,
    accepted,
    rejected,
    onRequest(hook) {
      requestHook = hook
    },
    onResponse(hook) {
      responseHook = hook
    },
    failNext(n, status, headers = {}, body) {
      for (let i = 0; i < n; i++) script.push({ status, headers, body: body ?? `injected failure ${status}` })
    },
    acceptNext(n) {
      for (let i = 0; i < n; i++) script.push('accept')
    },
    refuseRecords(poison, status = 400, body = 'a record the collector cannot take') {
      refusal = poison === undefined ? undefined : { poison, status, body }
    },
    async setMode(next) {
      if (next === 'refuse' && mode !== 'refuse') await stopListening()
      if (next !== 'refuse' && mode === 'refuse' && !closed) await listen(port)
      mode = next
    },
    respondWith(status) {
      successStatus = status
    },
    waitFor(count, timeoutMs = 5000) {
      return delivered.waitFor(count, timeoutMs)
    },
    clear() {
      records.length = 0
      requests.length = 0
      rejected.length = 0
      script.length = 0
    },
    async close() {
      if (closed) return
      closed = true
      await stopListening()
    },
  }
}
