/**
 * Standard field names beside the `proofpoint.*` attributes, so that dashboards and rules written for other sources
 * work on these records: the OpenTelemetry semantic conventions where they have a name (`url.*`, `client.address`,
 * `source.address`, `user_agent.original`), ECS where they are silent (`email.*`). The `proofpoint.*` attributes stay
 * as they are; a value that does not parse (an invalid IP, a URL without a host) is simply not repeated here.
 */
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs'
import type { JsonObject } from '../siem/types.js'
import { AttributeList } from './attribute-list.js'
import { addressesIn, ipAddress, urlParts } from './indicator-values.js'
import { Distinct, objectsOf, stringsOf } from './indicators.js'
import type { EventFamily } from './schema.js'
import type { AttributeShape } from './types.js'

/** Every standard attribute name, for documentation and tests. */
export const STANDARD_ATTRIBUTES = [
  'email.from.address',
  'email.sender.address',
  'email.to.address',
  'email.cc.address',
  'email.reply_to.address',
  'email.subject',
  'email.message_id',
  'email.x_mailer',
  'email.attachments',
  'email.attachments.file.name',
  'email.attachments.file.mime_type',
  'email.attachments.file.hash.md5',
  'email.attachments.file.hash.sha256',
  'source.address',
  'client.address',
  'user_agent.original',
  'url.full',
  'url.scheme',
  'url.domain',
  'url.port',
  'url.path',
  'url.query',
  'url.fragment',
] as const

/** The bare addresses of some fields, deduplicated in order. */
function addresses(event: JsonObject, ...fields: string[]): string[] {
  const out = new Distinct()
  for (const f of fields) {
    for (const s of stringsOf(event[f])) for (const a of addressesIn(s)) out.add(a.address)
  }
  return out.values
}

function putList(attrs: AttributeList, key: string, values: string[]): void {
  if (values.length > 0) attrs.set(key, values)
}

function putString(attrs: AttributeList, key: string, v: unknown): void {
  if (typeof v === 'string' && v !== '') attrs.set(key, v)
}

/**
 * ECS `email.attachments`: one entry per distinct message part. Flat shape: index-aligned arrays under
 * `email.attachments.file.*` ('' where a part lacks the value); nested: an array of `{ file: { name, mime_type,
 * hash: { md5, sha256 } } }`.
 */
function putAttachments(attrs: AttributeList, event: JsonObject, shape: AttributeShape): void {
  const seen = new Set<string>()
  const parts: [string, string, string, string][] = []
  for (const p of objectsOf(event.messageParts)) {
    const text = (v: unknown): string => (typeof v === 'string' ? v : '')
    const row: [string, string, string, string] = [text(p.filename), text(p.contentType), text(p.md5).toLowerCase(), text(p.sha256).toLowerCase()]
    const key = row.join('\n')
    if (row.every((x) => x === '') || seen.has(key)) continue
    seen.add(key)
    parts.push(row)
  }
  if (parts.length === 0) return
  if (shape === 'flat') {
    attrs.set('email.attachments.file.name', parts.map((r) => r[0]))
    attrs.set('email.attachments.file.mime_type', parts.map((r) => r[1]))
    attrs.set('email.attachments.file.hash.md5', parts.map((r) => r[2]))
    attrs.set('email.attachments.file.hash.sha256', parts.map((r) => r[3]))
    return
  }
  attrs.set(
    'email.attachments',
    parts.map(([name, mime, md5, sha256]): AnyValue => {
      const hash: AnyValueMap = {}
      if (md5 !== '') hash.md5 = md5
      if (sha256 !== '') hash.sha256 = sha256
      const file: AnyValueMap = {}
      if (name !== '') file.name = name
      if (mime !== '') file.mime_type = mime
      if (Object.keys(hash).length > 0) file.hash = hash
      return { file }
    }),
  )
}

/** The standard attributes of one event, as an object (tests, documentation). */
export function standardAttributes(event: JsonObject, family: EventFamily, shape: AttributeShape): AnyValueMap {
  const attrs = new AttributeList()
  putStandardAttributes(attrs, event, family, shape)
  return attrs.toMap()
}

/** The standard attributes of one event, added to `attrs`. */
export function putStandardAttributes(attrs: AttributeList, event: JsonObject, family: EventFamily, shape: AttributeShape): void {
  putList(attrs, 'email.sender.address', addresses(event, 'sender'))
  putList(attrs, 'email.to.address', addresses(event, 'toAddresses', 'recipient'))
  if (typeof event.messageID === 'string') putString(attrs, 'email.message_id', event.messageID.trim().replace(/^<|>$/g, ''))
  const sourceIp = typeof event.senderIP === 'string' ? ipAddress(event.senderIP) : undefined
  if (sourceIp !== undefined) attrs.set('source.address', sourceIp)
  if (family === 'message') {
    putList(attrs, 'email.from.address', addresses(event, stringsOf(event.fromAddress).length > 0 ? 'fromAddress' : 'headerFrom'))
    putList(attrs, 'email.cc.address', addresses(event, 'ccAddresses'))
    putList(attrs, 'email.reply_to.address', addresses(event, 'replyToAddress', 'headerReplyTo'))
    putString(attrs, 'email.subject', event.subject)
    putString(attrs, 'email.x_mailer', event.xmailer)
    putAttachments(attrs, event, shape)
    return
  }
  const clientIp = typeof event.clickIP === 'string' ? ipAddress(event.clickIP) : undefined
  if (clientIp !== undefined) attrs.set('client.address', clientIp)
  putString(attrs, 'user_agent.original', event.userAgent)
  const url = typeof event.url === 'string' ? urlParts(event.url) : undefined
  if (url !== undefined) {
    attrs.set('url.full', url.full)
    attrs.set('url.scheme', url.scheme)
    attrs.set('url.domain', url.domain)
    if (url.port !== undefined) attrs.set('url.port', url.port)
    attrs.set('url.path', url.path)
    if (url.query !== undefined) attrs.set('url.query', url.query)
    if (url.fragment !== undefined) attrs.set('url.fragment', url.fragment)
  }
}
