/**
 * gRPC status codes as OTLP/gRPC uses them, pure: names, which ones an exporter retries, and the RetryInfo delay a
 * server may attach to its status (google.rpc.Status in the `grpc-status-details-bin` trailer).
 */

/** The gRPC status codes (grpc/doc/statuscodes.md). */
export const GRPC_CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const

export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const

export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? `code ${code}`
}

/**
 * Codes the OTLP specification says to retry ("OTLP/gRPC Response": CANCELLED, DEADLINE_EXCEEDED, ABORTED,
 * OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS; RESOURCE_EXHAUSTED only when the server says when, with RetryInfo).
 */
export function isRetryableGrpcCode(code: number, hasRetryInfo: boolean): boolean {
  switch (code) {
    case GrpcCode.CANCELLED:
    case GrpcCode.DEADLINE_EXCEEDED:
    case GrpcCode.ABORTED:
    case GrpcCode.OUT_OF_RANGE:
    case GrpcCode.UNAVAILABLE:
    case GrpcCode.DATA_LOSS:
      return true
    case GrpcCode.RESOURCE_EXHAUSTED:
      return hasRetryInfo
    default:
      return false
  }
}

/** What the collector's RESOURCE_EXHAUSTED says when a request is over its message size limit (grpc-go, grpc-js). */
export const MESSAGE_TOO_LARGE = /larger than max|message larger than|decompresses to a size larger/i

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo'

/** A minimal protobuf reader: just enough for google.rpc.Status → Any → RetryInfo → Duration. */
class Reader {
  private pos = 0
  constructor(private readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length
  }
  varint(): number {
    let result = 0
    let shift = 0
    for (;;) {
      if (this.pos >= this.buf.length) throw new RangeError('truncated varint')
      const b = this.buf[this.pos++]!
      // Beyond 2^53 precision is lost, which no delay we honour comes near.
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
      if (shift > 63) throw new RangeError('varint too long')
    }
  }
  bytes(): Uint8Array {
    const len = this.varint()
    if (this.pos + len > this.buf.length) throw new RangeError('truncated field')
    const out = this.buf.subarray(this.pos, this.pos + len)
    this.pos += len
    return out
  }
  skip(wireType: number): void {
    if (wireType === 0) this.varint()
    else if (wireType === 2) this.bytes()
    else if (wireType === 1) this.pos += 8
    else if (wireType === 5) this.pos += 4
    else throw new RangeError(`unsupported wire type ${wireType}`)
  }
  /** Each field as [number, wire type]; the caller reads or skips its value. */
  *fields(): Generator<[number, number]> {
    while (!this.done) {
      const key = this.varint()
      yield [Math.floor(key / 8), key % 8]
    }
  }
}

/**
 * The RetryInfo delay in a serialized google.rpc.Status, in ms; undefined when there is none or the bytes cannot be
 * read (a server's malformed details never fail the export's handling).
 */
export function retryInfoDelayMs(statusDetails: Uint8Array | undefined): number | undefined {
  if (!statusDetails || statusDetails.length === 0) return undefined
  try {
    const status = new Reader(statusDetails)
    for (const [field, wire] of status.fields()) {
      if (field !== 3 || wire !== 2) {
        status.skip(wire)
        continue
      }
      // details: google.protobuf.Any { string type_url = 1; bytes value = 2; }
      const any = new Reader(status.bytes())
      let typeUrl = ''
      let value: Uint8Array | undefined
      for (const [f, w] of any.fields()) {
        if (f === 1 && w === 2) typeUrl = Buffer.from(any.bytes()).toString('utf8')
        else if (f === 2 && w === 2) value = any.bytes()
        else any.skip(w)
      }
      if (typeUrl !== RETRY_INFO_TYPE || value === undefined) continue
      // RetryInfo { google.protobuf.Duration retry_delay = 1; } Duration { int64 seconds = 1; int32 nanos = 2; }
      const info = new Reader(value)
      let ms = 0
      for (const [f, w] of info.fields()) {
        if (f !== 1 || w !== 2) {
          info.skip(w)
          continue
        }
        const duration = new Reader(info.bytes())
        for (const [df, dw] of duration.fields()) {
          if (df === 1 && dw === 0) ms += duration.varint() * 1000
          else if (df === 2 && dw === 0) ms += duration.varint() / 1e6
          else duration.skip(dw)
        }
      }
      return Math.max(0, Math.round(ms))
    }
  } catch {
    return undefined
  }
  return undefined
}
