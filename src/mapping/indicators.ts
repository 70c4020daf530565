/**
 * Indicator attributes: every e-mail address, IP address, URL, host name and hash an event mentions, one
 * deduplicated string array per kind, so a backend can find "everything about this address" without a parser. The
 * fields are the ones Panther's `Proofpoint.Event` schema annotates as indicators, plus the hashes of message parts
 * and threat values. Names follow ECS's `related.*` (`related.ip`, `related.hosts`, `related.hash`); ECS has no
 * field for e-mail addresses or URLs, so `related.email` and `related.url` follow its pattern.
 */
import type { AnyValueMap } from '@opentelemetry/api-logs'
import type { JsonObject, JsonValue } from '../siem/types.js'
import { AttributeList } from './attribute-list.js'
import { addressesIn, hexHash, ipAddress, urlParts } from './indicator-values.js'
import type { EventFamily } from './schema.js'

export const INDICATOR_ATTRIBUTES = {
  email: 'related.email',
  ip: 'related.ip',
  url: 'related.url',
  host: 'related.hosts',
  hash: 'related.hash',
} as const

/** The fields annotated `indicator: email` in the schema, per family (a click has a sender and one recipient). */
const EMAIL_FIELDS: Readonly<Record<EventFamily, readonly string[]>> = {
  message: ['sender', 'fromAddress', 'toAddresses', 'recipient', 'headerFrom', 'headerReplyTo', 'ccAddresses', 'replyToAddress'],
  click: ['sender', 'recipient'],
}
const IP_FIELDS: Readonly<Record<EventFamily, readonly string[]>> = { message: ['senderIP'], click: ['senderIP', 'clickIP'] }
const URL_FIELDS: Readonly<Record<EventFamily, readonly string[]>> = { message: [], click: ['url', 'threatURL'] }

const NONE: readonly never[] = []

/** The string values of a field that may be a string or an array of strings (`fromAddress` comes as both). */
export function stringsOf(v: JsonValue | undefined): readonly string[] {
  if (typeof v === 'string') return [v]
  if (!Array.isArray(v)) return NONE
  // Usually every element is a string: the array itself, not a copy.
  return v.every((x) => typeof x === 'string') ? v : v.filter((x): x is string => typeof x === 'string')
}

/** The objects of an array field (`messageParts`, `threatsInfoMap`); anything else gives none. */
export function objectsOf(v: JsonValue | undefined): readonly JsonObject[] {
  if (!Array.isArray(v)) return NONE
  const isObject = (x: JsonValue): x is JsonObject => typeof x === 'object' && x !== null && !Array.isArray(x)
  return v.every(isObject) ? v : v.filter(isObject)
}

/** Distinct strings in the order first seen: a plain array while there are a handful (cheaper than a Set), a Set beside it past that. */
export class Distinct {
  readonly values: string[] = []
  private set: Set<string> | undefined

  add(v: string): void {
    if (this.set === undefined) {
      if (this.values.includes(v)) return
      if (this.values.length >= 16) this.set = new Set(this.values)
    } else if (this.set.has(v)) return
    this.set?.add(v)
    this.values.push(v)
  }
}

class Collected {
  readonly email = new Distinct()
  readonly ip = new Distinct()
  readonly url = new Distinct()
  readonly host = new Distinct()
  readonly hash = new Distinct()

  addEmails(text: string): void {
    for (const { address, host } of addressesIn(text)) {
      this.email.add(address)
      this.host.add(host)
    }
  }

  /** True when `text` was a URL. */
  addUrl(text: string): boolean {
    const parts = urlParts(text)
    if (parts === undefined) return false
    this.url.add(parts.full)
    const ip = ipAddress(parts.domain)
    if (ip !== undefined) this.ip.add(ip)
    else this.host.add(parts.domain)
    return true
  }

  /**
   * A URL threat written without a scheme: `example.com/xyz/` is a URL (its text as given, and its host),
   * `badsite.example` a host name only.
   */
  addBareUrl(text: string): boolean {
    const s = text.trim()
    if (s === '' || s.includes('@') || /\s/.test(s)) return false
    const parts = urlParts('http://' + s)
    if (parts === undefined || !parts.domain.includes('.')) return false
    if (/[/?#]/.test(s)) this.url.add(s)
    const ip = ipAddress(parts.domain)
    if (ip !== undefined) this.ip.add(ip)
    else this.host.add(parts.domain)
    return true
  }

  addIp(text: string): void {
    const ip = ipAddress(text)
    if (ip !== undefined) this.ip.add(ip)
  }

  /** `only`: a hash of that kind only. */
  addHash(text: string, only?: 'sha256'): void {
    const hash = hexHash(text)
    if (hash !== undefined && (only === undefined || hash.kind === only)) this.hash.add(hash.value)
  }
}

/** The indicator attributes of one event (kinds with no value are left out), as an object (tests, documentation). */
export function indicatorAttributes(event: JsonObject, family: EventFamily): AnyValueMap {
  const out = new AttributeList()
  putIndicatorAttributes(out, event, family)
  return out.toMap()
}

/** The indicator attributes of one event, added to `out`. */
export function putIndicatorAttributes(out: AttributeList, event: JsonObject, family: EventFamily): void {
  const c = new Collected()
  for (const f of EMAIL_FIELDS[family]) for (const s of stringsOf(event[f])) c.addEmails(s)
  for (const f of IP_FIELDS[family]) for (const s of stringsOf(event[f])) c.addIp(s)
  for (const f of URL_FIELDS[family]) for (const s of stringsOf(event[f])) c.addUrl(s)
  if (family === 'message') {
    for (const threat of objectsOf(event.threatsInfoMap)) {
      for (const s of stringsOf(threat.threatUrl)) c.addUrl(s)
      // `threat` holds the URL (its scheme often left out), the SHA-256 of an attachment, a file name, or an
      // impostor's address.
      const url = typeof threat.threatType === 'string' && threat.threatType.toLowerCase() === 'url'
      for (const s of stringsOf(threat.threat)) {
        if (c.addUrl(s) || (url && c.addBareUrl(s))) continue
        c.addHash(s, 'sha256')
        if (s.includes('@')) c.addEmails(s)
      }
    }
    for (const part of objectsOf(event.messageParts)) {
      for (const s of stringsOf(part.md5)) c.addHash(s)
      for (const s of stringsOf(part.sha256)) c.addHash(s)
    }
  }
  for (const kind of Object.keys(INDICATOR_ATTRIBUTES) as (keyof typeof INDICATOR_ATTRIBUTES)[]) {
    if (c[kind].values.length > 0) out.set(INDICATOR_ATTRIBUTES[kind], c[kind].values)
  }
}
