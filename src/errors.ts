/**
 * The error catalogue. Every error a user can cause carries a stable `code` (tests assert codes, not text)
 * and a message that says what to do. Secrets are never put into messages or context.
 */
export class ReceiverError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** Invalid configuration: the process exits with EX_CONFIG (78). `problems` lists every bad setting at once. */
export class ConfigError extends ReceiverError {
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super('PSR_ERR_CONFIG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.problems = problems
  }
}

/** Base of all SIEM API failures. `retryable` tells the poller whether backing off and asking again can help. */
export class SiemApiError extends ReceiverError {
  readonly status: number | undefined
  readonly retryable: boolean
  constructor(code: string, message: string, opts: { status?: number; retryable: boolean; cause?: unknown }) {
    super(code, message, { cause: opts.cause })
    this.status = opts.status
    this.retryable = opts.retryable
  }
}

/** 400: the API rejected the request (window too long or too old, bad parameter); `apiMessage` is what it said. */
export class SiemBadRequestError extends SiemApiError {
  readonly apiMessage: string
  constructor(apiMessage: string) {
    super('PSR_ERR_SIEM_BAD_REQUEST', `SIEM API rejected the request (400): ${apiMessage}`, { status: 400, retryable: false })
    this.apiMessage = apiMessage
  }
}

/** 401/403: wrong principal or secret, or the principal lacks the SIEM API role. */
export class SiemAuthError extends SiemApiError {
  constructor(status: number, principal: string) {
    super(
      'PSR_ERR_SIEM_AUTH',
      `SIEM API refused the credentials of service principal "${principal}" (${status}): check PROOFPOINT_PRINCIPAL and PROOFPOINT_SECRET/PROOFPOINT_SECRET_FILE, and that the principal is allowed to use the SIEM API`,
      { status, retryable: true },
    )
  }
}

/** 429: over the request budget; `retryAfterMs` from the Retry-After header when given. */
export class SiemThrottledError extends SiemApiError {
  readonly retryAfterMs: number | undefined
  constructor(retryAfterMs: number | undefined) {
    super(
      'PSR_ERR_SIEM_THROTTLED',
      `SIEM API throttled the request (429)${retryAfterMs === undefined ? '' : `, retry after ${Math.ceil(retryAfterMs / 1000)} s`}: the credential is over its request budget (about 1,800 per 24 h); another poller may be using the same principal`,
      { status: 429, retryable: true },
    )
    this.retryAfterMs = retryAfterMs
  }
}

/** 5xx or another unexpected status. */
export class SiemServerError extends SiemApiError {
  constructor(status: number, detail: string) {
    super('PSR_ERR_SIEM_SERVER', `SIEM API answered ${status}${detail ? `: ${detail}` : ''}; will retry`, { status, retryable: true })
  }
}

/** No answer in time, connection refused or reset, DNS failure. */
export class SiemNetworkError extends SiemApiError {
  constructor(message: string, cause?: unknown) {
    super('PSR_ERR_SIEM_NETWORK', `${message}; check PROOFPOINT_BASE_URL and network access to it; will retry`, { retryable: true, cause })
  }
}

export class SiemTimeoutError extends SiemApiError {
  constructor(timeoutMs: number, cause?: unknown) {
    super('PSR_ERR_SIEM_TIMEOUT', `SIEM API did not answer within ${timeoutMs} ms; will retry`, { retryable: true, cause })
  }
}

/** 2xx with a body that is not the JSON the API documents (syslog text when format=json was lost, HTML from a proxy, truncation). */
export class SiemBadResponseError extends SiemApiError {
  constructor(detail: string, cause?: unknown) {
    super('PSR_ERR_SIEM_BAD_RESPONSE', `SIEM API answered with a body that is not the expected JSON: ${detail}; will retry`, { retryable: true, cause })
  }
}

/**
 * An OTLP export that the collector did not acknowledge: none of the records given may be treated as delivered,
 * so the caller keeps its cursor and sends them again. `retryable: true`: the collector is unreachable, slow,
 * throttling or failing (retry with backoff, at least `retryAfterMs` when set). `retryable: false`: the endpoint,
 * credentials or protocol are wrong and every request would fail alike until the configuration is fixed
 * (records the collector refuses as data are not thrown: the pipeline reports them as rejected).
 */
export class ExportError extends ReceiverError {
  readonly retryable: boolean
  readonly status: number | undefined
  /** The collector's Retry-After (429, 503), in milliseconds: wait at least this long before sending again. */
  readonly retryAfterMs: number | undefined
  constructor(message: string, opts: { retryable: boolean; status?: number; retryAfterMs?: number; cause?: unknown }) {
    super(opts.retryable ? 'PSR_ERR_EXPORT_FAILED' : 'PSR_ERR_EXPORT_REJECTED', message, { cause: opts.cause })
    this.retryable = opts.retryable
    this.status = opts.status
    this.retryAfterMs = opts.retryAfterMs
  }
}

/** The state directory cannot be read or written, or the cursor file is not ours. */
export class StateError extends ReceiverError {
  constructor(message: string, cause?: unknown) {
    super('PSR_ERR_STATE', message, { cause })
  }
}
