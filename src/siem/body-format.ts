import { ReceiverError } from '../errors.js'

/** The body is not the JSON the API documents. `detail` says what was found; the client adds a sanitized excerpt. */
export class BodyFormatError extends ReceiverError {
  constructor(detail: string) {
    super('PSR_ERR_SIEM_BODY_FORMAT', detail)
  }
}

const HEAD_BYTES = 512

/** The first bytes of a body, kept to describe it in an error. */
export class BodyHead {
  private readonly parts: Buffer[] = []
  private size = 0

  add(chunk: Buffer): void {
    if (this.size >= HEAD_BYTES) return
    const part = chunk.subarray(0, HEAD_BYTES - this.size)
    this.parts.push(part)
    this.size += part.length
  }

  get full(): boolean {
    return this.size >= HEAD_BYTES
  }

  text(): string {
    return Buffer.concat(this.parts).toString('utf8')
  }

  foreignError(): BodyFormatError {
    return new BodyFormatError(describeForeignBody(this.text()))
  }
}

/** Says what a body that is not a JSON object looks like, so an operator can guess who sent it. */
export function describeForeignBody(head: string): string {
  const text = head.trimStart()
  if (/^<\d{1,3}>/.test(text) || /(^|[\s,])[A-Za-z_][\w.-]*=("|[^\s=])/.test(text.slice(0, 400))) {
    return 'it looks like syslog text; is format=json being stripped by a proxy?'
  }
  if (text.startsWith('<')) return 'it looks like HTML or XML (an error page from a proxy or a captive portal?)'
  if (text.startsWith('[')) return 'it is a JSON array, not an object'
  if (/^("|-?\d|true\b|false\b|null\b)/.test(text)) return 'it is a JSON value that is not an object'
  return 'it is not JSON'
}
