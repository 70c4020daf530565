/** The gRPC status codes (grpc/doc/statuscodes.md). */
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

const GRPC_CODE_NAMES = Object.keys(GrpcCode)

export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? `code ${code}`
}

/** Codes the OTLP specification says to retry ("OTLP/gRPC Response"); RESOURCE_EXHAUSTED only when the server says when. */
export function isRetryableGrpcCode(code: number, hasRetryInfo: boolean): boolean {
  if (code === GrpcCode.RESOURCE_EXHAUSTED) return hasRetryInfo
  const { CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS } = GrpcCode
  const retryable: number[] = [CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS]
  return retryable.includes(code)
}

/** What the collector's RESOURCE_EXHAUSTED says when a request is over its message size limit (grpc-go, grpc-js). */
export const MESSAGE_TOO_LARGE = /larger than max|message larger than|decompresses to a size larger/i

const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo'

/** A minimal protobuf reader, enough for google.rpc.Status: each field as [number, varint or length-delimited bytes]. */
function* fields(buf: Uint8Array): Generator<[number, number | Uint8Array]> {
  let pos = 0
  const varint = (): number => {
    let result = 0
    for (let shift = 0; shift <= 63; shift += 7) {
      if (pos >= buf.length) throw new RangeError('truncated varint')
      const b = buf[pos++]!
      // Beyond 2^53 precision is lost, which no delay we honour comes near.
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
    }
    throw new RangeError('varint too long')
  }
  while (pos < buf.length) {
    const key = varint()
    const field = Math.floor(key / 8)
    const wireType = key % 8
    if (wireType === 0) yield [field, varint()]
    else if (wireType === 2) {
      const len = varint()
      if (pos + len > buf.length) throw new RangeError('truncated field')
      pos += len
      yield [field, buf.subarray(pos - len, pos)]
    } else if (wireType === 1) pos += 8
    else if (wireType === 5) pos += 4
    else throw new RangeError(`unsupported wire type ${wireType}`)
  }
}

/**
 * The RetryInfo delay in a serialized google.rpc.Status (the `grpc-status-details-bin` trailer), in ms; undefined when
 * there is none or the bytes cannot be read (a server's malformed details never fail the export's handling).
 */
export function retryInfoDelayMs(statusDetails: Uint8Array | undefined): number | undefined {
  if (!statusDetails || statusDetails.length === 0) return undefined
  try {
    for (const [field, any] of fields(statusDetails)) {
      if (field !== 3 || typeof any === 'number') continue
      // details: google.protobuf.Any { string type_url = 1; bytes value = 2; }
      let typeUrl = ''
      let value: Uint8Array | undefined
      for (const [f, v] of fields(any)) {
        if (f === 1 && typeof v !== 'number') typeUrl = Buffer.from(v).toString('utf8')
        else if (f === 2 && typeof v !== 'number') value = v
      }
      if (typeUrl !== RETRY_INFO_TYPE || value === undefined) continue
      // RetryInfo { google.protobuf.Duration retry_delay = 1; } Duration { int64 seconds = 1; int32 nanos = 2; }
      let ms = 0
      for (const [f, delay] of fields(value)) {
        if (f !== 1 || typeof delay === 'number') continue
        for (const [df, n] of fields(delay)) {
          if (df === 1 && typeof n === 'number') ms += n * 1000
          else if (df === 2 && typeof n === 'number') ms += n / 1e6
        }
      }
      return Math.max(0, Math.round(ms))
    }
  } catch {
    return undefined
  }
  return undefined
}
