/**
 * The error catalogue. Every error the receiver raises carries a stable `code` (tests assert codes, not text) and a
 * message that says what is wrong and what to do. Whether it is retried follows from the error's class and code
 * (ExportError's `retryable` says it outright), not from words in the message. Secrets are never put into messages or context.
 */
import type { ExportRequestOutcome } from './export/report.js'

/** sysexits.h EX_CONFIG: what init systems and operators recognise as "fix the configuration". */
export const EXIT_CONFIG = 78

export const ERROR_CODES = {
  PSR_ERR_CONFIG_INVALID: 'a setting is invalid: the process exits with 78',
  PSR_ERR_STATE: 'the state directory cannot be used, or its state file is not ours',
  PSR_ERR_SIEM_BAD_REQUEST: 'the SIEM API refused the request (400): the window is asked again, smaller',
  PSR_ERR_SIEM_AUTH: 'the SIEM API refused the credentials (401, 403)',
  PSR_ERR_SIEM_THROTTLED: 'the SIEM API throttled the request (429)',
  PSR_ERR_SIEM_SERVER: 'the SIEM API answered 5xx or an unexpected status',
  PSR_ERR_SIEM_NETWORK: 'the SIEM API could not be reached',
  PSR_ERR_SIEM_TIMEOUT: 'the SIEM API did not answer in time',
  PSR_ERR_SIEM_BAD_RESPONSE: 'the SIEM API answered with a body that is not the JSON it documents',
  PSR_ERR_SIEM_BODY_FORMAT: 'a SIEM API body (or a saved one given to `map`) is not the JSON the API sends',
  PSR_ERR_SIEM_BUDGET_EXHAUSTED: 'the request budget (PROOFPOINT_REQUEST_BUDGET) is used up: the poller waits for it',
  PSR_ERR_EXPORT_FAILED: 'the collector is unreachable, slow, throttling or failing: the records are sent again later',
  PSR_ERR_EXPORT_MISCONFIGURED: 'the OTLP endpoint, credentials, protocol or headers are wrong: the records are held until fixed',
  PSR_ERR_EXPORT_REJECTED: 'the collector refused the records as data: sending them again cannot help',
  PSR_ERR_EXPORT_SHUT_DOWN: 'an export was asked of a pipeline that is shut down',
  PSR_ERR_EXPORT_ATTEMPT: "one OTLP request failed, as the exporter reports it (classified into one of the PSR_ERR_EXPORT_ codes above)",
  PSR_ERR_WORKER: 'a worker thread (RECEIVER_WORKERS) died or failed while mapping a batch: the window is read again',
  PSR_ERR_INTERNAL: 'anything else: a bug or an unexpected library error',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export class ReceiverError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** The code and message of any error, for logs and /status: ours as they are, anything else as PSR_ERR_INTERNAL. */
export function errorInfo(err: unknown): { code: ErrorCode; message: string } {
  return err instanceof ReceiverError ? { code: err.code, message: err.message } : { code: 'PSR_ERR_INTERNAL', message: String(err) }
}

/** Invalid configuration: the process exits with EX_CONFIG (78). `problems` lists every bad setting at once. */
export class ConfigError extends ReceiverError {
  constructor(readonly problems: readonly string[]) {
    super('PSR_ERR_CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`)
  }
}

/** The poller backs off and asks again after any SIEM API failure but a 400 (SiemBadRequestError): a smaller window. */
export class SiemApiError extends ReceiverError {
  /** The HTTP status, when the API answered (also a 2xx whose body then failed: cut, not JSON, stalled). */
  readonly status: number | undefined
  /**
   * How long the request took the API before it failed, the time the caller held its body's batches left out (set by
   * the SIEM client when the body was being read); undefined: from the request's start.
   */
  seconds: number | undefined
  constructor(code: ErrorCode, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(code, message, { cause: opts.cause })
    this.status = opts.status
  }
}

export class SiemBadRequestError extends SiemApiError {
  constructor(readonly apiMessage: string) {
    super('PSR_ERR_SIEM_BAD_REQUEST', `SIEM API rejected the request (400): ${apiMessage}`, { status: 400 })
  }
}

export class SiemAuthError extends SiemApiError {
  constructor(status: number, principal: string) {
    super(
      'PSR_ERR_SIEM_AUTH',
      `SIEM API refused the credentials of service principal "${principal}" (${status}): check PROOFPOINT_PRINCIPAL and PROOFPOINT_SECRET/PROOFPOINT_SECRET_FILE, and that the principal is allowed to use the SIEM API`,
      { status },
    )
  }
}

export class SiemThrottledError extends SiemApiError {
  constructor(readonly retryAfterMs: number | undefined) {
    super(
      'PSR_ERR_SIEM_THROTTLED',
      `SIEM API throttled the request (429)${retryAfterMs === undefined ? '' : `, retry after ${Math.ceil(retryAfterMs / 1000)} s`}: the credential is over its request budget (about 1,800 per 24 h); another poller may be using the same principal`,
      { status: 429 },
    )
  }
}

export class SiemServerError extends SiemApiError {
  constructor(status: number, detail: string) {
    super('PSR_ERR_SIEM_SERVER', `SIEM API answered ${status}${detail ? `: ${detail}` : ''}`, { status })
  }
}

/** `status`: the answer's, when the connection failed while its body was read. */
export class SiemNetworkError extends SiemApiError {
  constructor(message: string, cause?: unknown, status?: number) {
    super('PSR_ERR_SIEM_NETWORK', `${message}; check PROOFPOINT_BASE_URL and network access to it`, { cause, status })
  }
}

/** `status`: the answer's, when its body stalled. */
export class SiemTimeoutError extends SiemApiError {
  constructor(timeoutMs: number, cause?: unknown, status?: number) {
    super('PSR_ERR_SIEM_TIMEOUT', `SIEM API did not answer within ${timeoutMs} ms (PROOFPOINT_REQUEST_TIMEOUT)`, { cause, status })
  }
}

/** 2xx with a body that is not the JSON the API documents (syslog text when format=json was lost, HTML from a proxy, truncation). */
export class SiemBadResponseError extends SiemApiError {
  /** `status`: the answer's (undefined only when not known where the body was found wrong). */
  constructor(detail: string, status: number | undefined, cause?: unknown) {
    super('PSR_ERR_SIEM_BAD_RESPONSE', `SIEM API answered with a body that is not the expected JSON: ${detail}`, { cause, status })
  }
}

export class BudgetExhaustedError extends ReceiverError {
  constructor() {
    super(
      'PSR_ERR_SIEM_BUDGET_EXHAUSTED',
      'the SIEM API request budget (PROOFPOINT_REQUEST_BUDGET per 24 h) is used up: waiting for the oldest request to age out',
    )
  }
}

/** What a failed export means for its records (see classifyFailure in src/export/failure.ts). */
export type ExportErrorCode = Extract<ErrorCode, 'PSR_ERR_EXPORT_FAILED' | 'PSR_ERR_EXPORT_MISCONFIGURED' | 'PSR_ERR_EXPORT_REJECTED' | 'PSR_ERR_EXPORT_SHUT_DOWN'>

/**
 * An OTLP export the collector did not acknowledge: none of its records may be treated as delivered, so the caller
 * keeps its cursor and sends them again. Only check-config throws PSR_ERR_EXPORT_REJECTED: the pipeline reports such
 * records as rejected and moves on.
 */
export class ExportError extends ReceiverError {
  declare readonly code: ExportErrorCode
  /** Sending the same records again later may succeed (PSR_ERR_EXPORT_FAILED); the receiver retries it with backoff. */
  readonly retryable: boolean
  readonly status: number | undefined
  /** The collector's Retry-After (429, 503), in milliseconds: wait at least this long before sending again. */
  readonly retryAfterMs: number | undefined
  /**
   * What the failed call sent, set by the export pipeline: its requests by how each was answered (acknowledged ones
   * before the failure included), and the body bytes of those acknowledged. Undefined from elsewhere.
   */
  sent: { requests: Partial<Record<ExportRequestOutcome, number>>; bytes: number | undefined } | undefined
  constructor(code: ExportErrorCode, message: string, opts: { status?: number; retryAfterMs?: number; cause?: unknown } = {}) {
    super(code, message, { cause: opts.cause })
    this.retryable = code === 'PSR_ERR_EXPORT_FAILED'
    this.status = opts.status
    this.retryAfterMs = opts.retryAfterMs
  }
}

export class StateError extends ReceiverError {
  constructor(message: string, cause?: unknown) {
    super('PSR_ERR_STATE', message, { cause })
  }
}

/** A worker thread died or failed while it mapped and encoded a batch: nothing of the batch was exported, the window is read again. */
export class WorkerError extends ReceiverError {
  constructor(message: string, cause?: unknown, advise = true) {
    super('PSR_ERR_WORKER', advise ? `${message}; the window is read again (set RECEIVER_WORKERS=0 to map in the main thread)` : message, { cause })
  }

  /** The pool was closed because the receiver is stopping: nothing failed, so no advice to change a setting. */
  static closed(): WorkerError {
    return new WorkerError('the worker pool was closed (the receiver is stopping); the window is read again at the next start', undefined, false)
  }
}
