/**
 * A real OTLP/gRPC logs receiver for tests: grpc-js serving opentelemetry.proto.collector.logs.v1.LogsService/Export
 * on 127.0.0.1 (plaintext or TLS), decoding each request with the same decoder as the HTTP sink, and answering with
 * scripted statuses (RetryInfo and partial success included) when asked to.
 */
import { Metadata, Server, ServerCredentials, status as grpcStatus } from '@grpc/grpc-js'
import type { ServerUnaryCall, sendUnaryData, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js'
import { LOGS_EXPORT_METHOD } from '../../src/export/otlp-grpc-exporter.js'
import { countWaiter } from './count-waiter.js'
import { decodeLogRecords } from './otlp-sink.js'
import type { SinkRecord } from './otlp-sink.js'

export interface GrpcSinkRequest {
  /** The metadata the client sent (authorization, user-agent, grpc-encoding, ...). */
  metadata: Record<string, string>
  /** Message bytes after gRPC decompression. */
  bytes: number
  records: number
  /** The status the sink answered with (0: OK). */
  code: number
}

/** What the sink answers a request with instead of accepting it. */
export interface GrpcAnswer {
  code: number
  details?: string
  /** Attach google.rpc.RetryInfo with this delay (grpc-status-details-bin). */
  retryDelayMs?: number
  /** OK with an ExportLogsServiceResponse carrying partial success. */
  partial?: { rejected: number; message: string }
}

export interface GrpcSinkOptions {
  /** TLS: the server's certificate and key; `ca` set: client certificates are required and checked against it. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer }
  /** The server's receive limit (grpc-go's and the Collector's default is 4 MiB). */
  maxReceiveBytes?: number
  /** Serve no LogsService (the answer is UNIMPLEMENTED). */
  noService?: boolean
  port?: number
}

export interface GrpcSink {
  readonly port: number
  /** http://127.0.0.1:PORT (or https://localhost:PORT with TLS). */
  readonly url: string
  readonly records: SinkRecord[]
  readonly requests: GrpcSinkRequest[]
  /** Answers for the next requests, in order (after them: accept). */
  answerNext(...answers: GrpcAnswer[]): void
  /** Never answer (until close). */
  hang(on: boolean): void
  waitFor(count: number, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

const identity = (b: Buffer): Buffer => b

const LOGS_SERVICE: ServiceDefinition = {
  Export: {
    path: LOGS_EXPORT_METHOD,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
}

function varint(n: number): number[] {
  // A small negative int64 (down to -128), as protobuf writes it: ten bytes, two's complement.
  if (n < 0) return [...Array.from({ length: 9 }, (_, i) => (i === 0 ? (n & 0x7f) | 0x80 : 0xff)), 0x01]
  const out: number[] = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** A length-delimited protobuf field. */
function field(num: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(num << 3) | 2, ...varint(payload.length)]), payload])
}

/** google.rpc.Status { code, message, details: [Any{RetryInfo{retry_delay: Duration}}] }. */
export function statusWithRetryInfo(code: number, message: string, delayMs: number): Buffer {
  const seconds = Math.floor(delayMs / 1000)
  const nanos = (delayMs % 1000) * 1e6
  const duration = Buffer.from([...(seconds ? [0x08, ...varint(seconds)] : []), ...(nanos ? [0x10, ...varint(nanos)] : [])])
  const retryInfo = field(1, duration)
  const any = Buffer.concat([field(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')), field(2, retryInfo)])
  return Buffer.concat([Buffer.from([0x08, ...varint(code)]), field(2, Buffer.from(message)), field(3, any)])
}

/** ExportLogsServiceResponse { partial_success: { rejected_log_records, error_message } }. */
export function partialSuccessResponse(rejected: number, message: string): Buffer {
  const inner = Buffer.concat([Buffer.from([0x08, ...varint(rejected)]), field(2, Buffer.from(message))])
  return field(1, inner)
}

export async function startGrpcSink(opts: GrpcSinkOptions = {}): Promise<GrpcSink> {
  const records: SinkRecord[] = []
  const requests: GrpcSinkRequest[] = []
  const script: GrpcAnswer[] = []
  const delivered = countWaiter(
    () => records.length,
    'grpc sink',
    () => `${requests.length} requests`,
  )
  const hanging = new Set<() => void>()
  let hang = false
  const server = new Server(opts.maxReceiveBytes === undefined ? {} : { 'grpc.max_receive_message_length': opts.maxReceiveBytes })
  const handlers: UntypedServiceImplementation = {
    Export(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
      const metadata: Record<string, string> = {}
      for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = typeof v === 'string' ? v : v.toString('base64')
      const body = call.request
      const entry: GrpcSinkRequest = { metadata, bytes: body.length, records: 0, code: grpcStatus.OK }
      requests.push(entry)
      if (hang) {
        hanging.add(() => callback({ code: grpcStatus.UNAVAILABLE, details: 'sink closing' }))
        return
      }
      const answer = script.shift()
      if (answer && answer.code !== Number(grpcStatus.OK)) {
        entry.code = answer.code
        const trailer = new Metadata()
        if (answer.retryDelayMs !== undefined) trailer.set('grpc-status-details-bin', statusWithRetryInfo(answer.code, answer.details ?? '', answer.retryDelayMs))
        callback({ code: answer.code, details: answer.details ?? 'injected', metadata: trailer })
        return
      }
      let decoded: SinkRecord[]
      try {
        decoded = decodeLogRecords(body, 'protobuf').map((r) => ({ ...r, request: requests.length - 1 }))
      } catch (err) {
        entry.code = grpcStatus.INVALID_ARGUMENT
        callback({ code: grpcStatus.INVALID_ARGUMENT, details: `cannot decode: ${(err as Error).message}` })
        return
      }
      entry.records = decoded.length
      records.push(...decoded)
      callback(null, answer?.partial ? partialSuccessResponse(answer.partial.rejected, answer.partial.message) : Buffer.alloc(0))
      delivered.wake()
    },
  }
  if (!opts.noService) server.addService(LOGS_SERVICE, handlers)
  const creds = opts.tls
    ? ServerCredentials.createSsl(opts.tls.ca ?? null, [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }], opts.tls.ca !== undefined)
    : ServerCredentials.createInsecure()
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
  )
  return {
    port,
    url: opts.tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`,
    records,
    requests,
    answerNext(...answers) {
      script.push(...answers)
    },
    hang(on) {
      hang = on
      if (!on) for (const release of hanging) release()
      if (!on) hanging.clear()
    },
    waitFor(count, timeoutMs = 5000) {
      return delivered.waitFor(count, timeoutMs)
    },
    close() {
      for (const release of hanging) release()
      hanging.clear()
      return new Promise((resolve) => {
        server.tryShutdown(() => resolve())
        // Calls still open (a client that never finishes) must not keep the test waiting.
        setTimeout(() => server.forceShutdown(), 200).unref()
      })
    },
  }
}
