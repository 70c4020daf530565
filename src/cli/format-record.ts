import type { AnyValue } from '@opentelemetry/api-logs'
import type { MappedRecord } from '../mapping/types.js'

/**
 * What a terminal must not be handed raw: C0 and C1 controls and DEL (escape sequences, line breaks), the bidi
 * controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069: a right-to-left override turns `invoice\u202Efdp.exe`
 * into what reads as `invoiceexe.pdf`), line and paragraph separators, the byte order mark, and lone surrogates (with the
 * `u` flag a surrogate range matches only unpaired ones).
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]|[\ud800-\udfff]/gu

/** Each unsafe character as a visible escape (`\u202e`), so the text shows what it really holds. */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE, (c) => {
    if (c === '\n') return '\\n'
    if (c === '\r') return '\\r'
    if (c === '\t') return '\\t'
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}

/** Shortens, single-lines and escapes attacker-controlled text so one record stays one honest terminal line. */
function clip(value: AnyValue | undefined, max = 60): string {
  if (value === undefined || value === null) return '-'
  const raw = Array.isArray(value) ? value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value)
  // Cut by code points (never half a surrogate pair), then escape: an escape is never cut in two.
  const chars = Array.from(raw)
  return chars.length > max ? `${escapeForTerminal(chars.slice(0, max - 1).join(''))}…` : escapeForTerminal(raw)
}

/** The attachments' file names (flat or nested attribute shape), the part a spoofed name hides in. */
function files(a: MappedRecord['attributes']): string {
  const flat = a['proofpoint.messageParts.filename']
  const parts = a['proofpoint.messageParts']
  const names = flat ?? (Array.isArray(parts) ? parts.map((p) => (p !== null && typeof p === 'object' && !Array.isArray(p) && !(p instanceof Uint8Array) ? p.filename : undefined)).filter((n) => n !== undefined && n !== null) : undefined)
  return names === undefined || (Array.isArray(names) && names.length === 0) ? '' : ` files=${clip(names, 40)}`
}

function isoFromHr(hr: [number, number] | undefined): string {
  if (!hr) return '(no time)'.padEnd(24)
  return new Date(hr[0] * 1000 + Math.floor(hr[1] / 1e6)).toISOString()
}

/** One exported record as one readable line (the demo's output). */
export function formatRecordLine(r: MappedRecord): string {
  const a = r.attributes
  const isClick = r.eventType.startsWith('clicks')
  const threat = isClick
    ? `${clip(a['proofpoint.classification'], 12)}/${clip(a['proofpoint.threatStatus'], 14)}`
    : `${clip(a['proofpoint.threatsInfoMap.classification'], 24)}/${clip(a['proofpoint.threatsInfoMap.threatStatus'], 24)}`
  const who = isClick
    ? `${clip(a['proofpoint.recipient'], 30)} clicked ${clip(a['proofpoint.url'], 50)}`
    : `${clip(a['proofpoint.sender'], 30)} → ${clip(a['proofpoint.recipient'], 30)} "${clip(a['proofpoint.subject'], 40)}"${files(a)}`
  // The indicators, when on: which hosts an event involves, at a glance.
  const hosts = a['related.hosts'] === undefined ? '' : ` hosts=${clip(a['related.hosts'], 50)}`
  const flags = r.malformed.length > 0 ? ` MALFORMED(${escapeForTerminal(r.malformed.join('; '))})` : ''
  return `${isoFromHr(r.timestamp)} ${r.severityText.padEnd(5)} ${r.eventName.padEnd(28)} ${who} threat=${threat}${hosts} uid=${r.uid.slice(0, 12)}${flags}`
}
