/**
 * Deterministic SIEM events, a pure function of (seed, epoch minute): windows agree with each other, tests can
 * recompute what a window holds, and the benchmark gets hundreds of thousands of events quickly. Shapes follow the TAP
 * SIEM API v2 JSON (design §2): hostile subjects, non-ASCII addresses, IPv4 and IPv6, the API's nulls, messageParts in
 * random order, one event per recipient of a message (same GUID, own `id`).
 */
import type { EventType, JsonObject } from '../siem/types.js'

export interface GeneratorOptions {
  /** Different seeds give different, equally deterministic, event streams. */
  seed: number
  /** Mean number of events per minute (Poisson); may be fractional. */
  eventsPerMinute: number
}

export interface GeneratedEvent {
  type: EventType
  /** The event's time (messageTime / clickTime) in epoch milliseconds; the simulator treats it as creation time. */
  timeMs: number
  /** A deterministic number in [0, 1): the simulator scales it to an indexing lag when asked to model one. */
  lag: number
  event: JsonObject
}

const MINUTE_MS = 60_000

/** mulberry32: tiny, fast, good enough for test data. Not for anything secret. */
export class Rng {
  private a: number
  constructor(seed: number) {
    this.a = seed >>> 0
  }
  u32(): number {
    this.a = (this.a + 0x6d2b79f5) | 0
    let t = this.a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  /** [0, 1) */
  float(): number {
    return this.u32() / 4294967296
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }
  chance(p: number): boolean {
    return this.float() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }
}

/** Seed of one minute's generator: a murmur3-style mix of the stream seed and the minute. */
export function minuteSeed(seed: number, minute: number): number {
  let h = (seed ^ Math.imul(minute >>> 0, 0x9e3779b1) ^ Math.imul(Math.floor(minute / 4294967296), 0x85ebca77)) >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Scratch space: random bytes are written here and decoded in one native call, which keeps garbage low. */
const SCRATCH = Buffer.alloc(64)

function randomBytes(rng: Rng, n: number): void {
  for (let i = 0; i < n; i += 4) SCRATCH.writeUInt32LE(rng.u32(), i)
}
/** `words` × 8 random hex characters. */
function hexChars(rng: Rng, words: number): string {
  randomBytes(rng, words * 4)
  return SCRATCH.toString('hex', 0, words * 4)
}
function hex32(r: number): string {
  SCRATCH.writeUInt32BE(r >>> 0, 0)
  return SCRATCH.toString('hex', 0, 4)
}
function hex16(r: number): string {
  SCRATCH.writeUInt16BE(r & 0xffff, 0)
  return SCRATCH.toString('hex', 0, 2)
}
/** 27 characters of base64url, like the API's message GUIDs. */
function guid(rng: Rng): string {
  randomBytes(rng, 20)
  return SCRATCH.toString('base64url', 0, 20)
}
/** UUID-shaped and unique per (minute, index): the minute and the index are part of it. */
function eventId(rng: Rng, minute: number, index: number): string {
  SCRATCH.writeUInt32BE(rng.u32(), 0)
  // The index and the minute go in scrambled by a bijection, so ids look random yet never collide.
  SCRATCH.writeUInt32BE((index ^ Math.imul(minute, 0x9e3779b1)) >>> 0, 4)
  SCRATCH.writeUInt16BE(rng.u32() & 0xffff, 8)
  SCRATCH.writeUInt32BE((minute ^ 0x5bd1e995) >>> 0, 10)
  SCRATCH.writeUInt16BE(rng.u32() & 0xffff, 14)
  const h = SCRATCH.toString('hex', 0, 16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** RFC 3339 the ways the API writes it: milliseconds with Z or +00:00, and whole seconds without a fraction. */
export function apiTime(ms: number, offsetStyle: boolean): string {
  const iso = new Date(ms).toISOString()
  if (ms % 1000 === 0) return `${iso.slice(0, 19)}Z`
  return offsetStyle ? `${iso.slice(0, 23)}+00:00` : iso
}

const SENDERS: ReadonlyArray<{ address: string; display: string }> = [
  { address: 'billing@paypa1-secure.example', display: 'PayPal Billing' },
  { address: 'noreply@docu-sign.example', display: 'DocuSign' },
  { address: 'it-helpdesk@c0rp.example', display: 'IT "Helpdesk"' },
  { address: 'ceo.urgent@gmail.example', display: 'Jane Doe (CEO)' },
  { address: 'rené.müller@bücher.example', display: 'René Müller' },
  { address: "o'hara@shipping-notice.example", display: "O'Hara, Logistics" },
  { address: 'zhang.wei@例子.example', display: '张伟' },
  { address: 'buh@xn--80ak6aa92e.example', display: 'Бухгалтерия' },
  { address: 'newsletter@deals.example', display: 'Deals Today 🔥' },
  { address: 'security@micros0ft-support.example', display: 'Microsoft Security' },
]
const NAMED_RECIPIENTS: readonly string[] = [
  'bob@corp.example',
  'alice@corp.example',
  "d.o'brien@corp.example",
  'carol.ng@corp.example',
  'finance@corp.example',
  'jürgen.groß@corp.example',
  'hr-team@corp.example',
]
const RECIPIENT_POOL = 500
function recipient(rng: Rng): string {
  const i = rng.int(NAMED_RECIPIENTS.length + RECIPIENT_POOL)
  return i < NAMED_RECIPIENTS.length ? (NAMED_RECIPIENTS[i] as string) : `user${i - NAMED_RECIPIENTS.length}@corp.example`
}
const SUBJECTS: readonly string[] = [
  'Ärger mit "Zugang" <script>alert(1)</script>',
  'Please review: Q3 bonus 📈',
  '=?UTF-8?B?w5xiZXJ3ZWlzdW5n?=',
  'Your mailbox is full',
  'Invoice #%N overdue',
  'RE: RE: FW: wire transfer — urgent',
  '【重要】アカウントの確認',
  'Счёт на оплату №%N',
  "\"Quoted\" subject with 'single' quotes \\ and a backslash",
  '',
  'Multi-line\r\n\tfolded subject',
  'مرحبا - تحديث الحساب',
  'Document \u202Efdp.exe',
  'Password expires today; reset now at https://login.micros0ft-support.example/?u=%N',
  'Shared file: Q%N budget.xlsx',
]
const XMAILERS: readonly string[] = ['Microsoft Outlook 16.0', 'PHPMailer 6.1.7 (https://github.com/PHPMailer/PHPMailer)', 'Mozilla Thunderbird', 'Apple Mail (2.3654)']
const MODULES_RUN: readonly (readonly string[])[] = [
  ['av', 'spam', 'dkimv', 'spf', 'dmarc', 'urldefense', 'sandbox'],
  ['av', 'spam', 'dkimv', 'spf', 'dmarc', 'urldefense'],
  ['av', 'spam', 'dmarc', 'pdr', 'urldefense', 'sandbox', 'zerohour'],
  ['av', 'zerohour', 'spam'],
]
const POLICY_ROUTES: readonly (readonly string[])[] = [['default_inbound'], ['default_inbound', 'allow_relay'], ['firewallsafe'], ['default_inbound', 'executives']]
const USER_AGENTS: readonly string[] = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)',
  'curl/8.4.0',
  'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0 "quoted"',
]
const CLASSIFICATIONS = ['phish', 'malware', 'spam', 'impostor'] as const
type Classification = (typeof CLASSIFICATIONS)[number]
const THREAT_TYPES = ['url', 'attachment', 'messageText'] as const
const QUARANTINE: Record<Classification, [string, string]> = {
  phish: ['Phish', 'phish_block'],
  malware: ['Attachment Defense', 'module.sandbox.threat'],
  spam: ['Bulk', 'inbound_spam'],
  impostor: ['Impostor', 'impostor_block'],
}
const ATTACHMENTS: ReadonlyArray<{ contentType: string; filename: string; oContentType: string }> = [
  { contentType: 'application/vnd.ms-word.document.macroEnabled.12', filename: 'Invoice %N.docm', oContentType: 'application/octet-stream' },
  { contentType: 'application/pdf', filename: 'Scan_%N.pdf', oContentType: 'application/pdf' },
  { contentType: 'application/zip', filename: 'payment-details.zip', oContentType: 'application/x-zip-compressed' },
  { contentType: 'text/html', filename: 'Remittance Advice.html', oContentType: 'text/html' },
  { contentType: 'application/x-dosexec', filename: 'Überweisung_%N.pdf.exe', oContentType: 'application/octet-stream' },
]
const SANDBOX_STATUS: readonly (string | null)[] = ['threat', 'clean', 'unsupported', null]

function fillN(template: string, rng: Rng): string {
  return template.includes('%N') ? template.replace('%N', String(10000 + rng.int(90000))) : template
}
function threatStatus(rng: Rng): string {
  const r = rng.float()
  return r < 0.8 ? 'active' : r < 0.92 ? 'cleared' : 'falsePositive'
}
function senderIp(rng: Rng): string {
  const r = rng.float()
  if (r < 0.25) return `2001:db8:${hex16(rng.u32()).replace(/^0+(?=.)/, '')}::${(1 + rng.int(254)).toString(16)}`
  const nets = ['192.0.2', '198.51.100', '203.0.113']
  return `${rng.pick(nets)}.${1 + rng.int(254)}`
}
function clickIp(rng: Rng): string {
  return rng.chance(0.2) ? `2001:db8:85a3::${(1 + rng.int(4094)).toString(16)}` : `198.51.100.${1 + rng.int(254)}`
}
function campaign(rng: Rng): string | null {
  if (rng.chance(0.4)) return null
  const h = hexChars(rng, 4)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
function threatUrl(rng: Rng, threatId: string): string {
  return `https://threatinsight.proofpoint.com/${hex32(rng.u32())}/threat/email/${threatId}`
}
function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const t = items[i] as T
    items[i] = items[j] as T
    items[j] = t
  }
  return items
}
function score(rng: Rng, high: boolean): number {
  return high ? 80 + rng.int(21) : rng.int(60)
}

function messageParts(rng: Rng, withAttachment: boolean): JsonObject[] {
  const parts: JsonObject[] = [
    { contentType: 'text/plain', disposition: 'inline', filename: 'text.txt', md5: hexChars(rng, 4), oContentType: 'text/plain', sandboxStatus: null, sha256: hexChars(rng, 8) },
  ]
  if (rng.chance(0.5)) {
    parts.push({ contentType: 'text/html', disposition: 'inline', filename: 'text.html', md5: hexChars(rng, 4), oContentType: 'text/html', sandboxStatus: null, sha256: hexChars(rng, 8) })
  }
  if (withAttachment || rng.chance(0.2)) {
    const a = rng.pick(ATTACHMENTS)
    parts.push({
      contentType: a.contentType,
      disposition: 'attached',
      filename: fillN(a.filename, rng),
      md5: hexChars(rng, 4),
      oContentType: a.oContentType,
      sandboxStatus: withAttachment ? 'threat' : rng.pick(SANDBOX_STATUS),
      sha256: hexChars(rng, 8),
    })
  }
  return shuffle(rng, parts)
}

/** One message (before it is split per recipient). */
function messageEvent(rng: Rng, type: EventType, timeMs: number, recipients: readonly string[]): JsonObject {
  const blocked = type === 'messagesBlocked'
  const sender = rng.pick(SENDERS)
  const senderDomain = sender.address.slice(sender.address.indexOf('@') + 1)
  const messageTime = apiTime(timeMs, rng.chance(0.15))
  const threats: JsonObject[] = []
  const nThreats = rng.chance(0.25) ? 2 : 1
  let mainClass: Classification = 'phish'
  let hasAttachmentThreat = false
  for (let t = 0; t < nThreats; t++) {
    const classification = rng.pick(CLASSIFICATIONS)
    if (t === 0) mainClass = classification
    const threatType = rng.pick(THREAT_TYPES)
    if (threatType === 'attachment') hasAttachmentThreat = true
    const threatId = hexChars(rng, 8)
    threats.push({
      threatID: threatId,
      threatStatus: threatStatus(rng),
      classification,
      threatUrl: threatUrl(rng, threatId),
      threatTime: new Date(timeMs - rng.int(3_600_000)).toISOString(),
      threat:
        threatType === 'url'
          ? `https://${rng.pick(['bad.example', 'login.micros0ft-support.example', 'xn--pypal-4ve.example'])}/${hex32(rng.u32())}?id=${hex16(rng.u32())}`
          : hexChars(rng, 8),
      campaignID: campaign(rng),
      threatType,
    })
  }
  const ccAddresses = rng.chance(0.7) ? [] : [recipient(rng), ...(rng.chance(0.3) ? [recipient(rng)] : [])]
  const replyTo = rng.chance(0.8) ? null : rng.pick(['reply@evil.example', `"Support" <help@${senderDomain}>`])
  const [folder, rule] = QUARANTINE[mainClass]
  return {
    GUID: guid(rng),
    QID: `r${hex32(rng.u32())}${hex16(rng.u32()).slice(0, 1)}`,
    id: '',
    ccAddresses,
    cluster: rng.chance(0.9) ? 'corp_hosted' : 'corp-eu_hosted',
    completelyRewritten: blocked ? false : rng.chance(0.85),
    fromAddress: [sender.address],
    headerFrom: `"${sender.display.replace(/["\\]/g, '\\$&')}" <${sender.address}>`,
    headerReplyTo: replyTo,
    impostorScore: score(rng, mainClass === 'impostor'),
    malwareScore: score(rng, mainClass === 'malware'),
    phishScore: score(rng, mainClass === 'phish'),
    spamScore: score(rng, mainClass === 'spam'),
    messageID: `<${hex32(rng.u32())}${hex16(rng.u32())}@${senderDomain}>`,
    messageSize: Math.floor(800 * Math.pow(10, rng.float() * 3.8)),
    messageTime,
    messageParts: messageParts(rng, hasAttachmentThreat),
    modulesRun: rng.pick(MODULES_RUN).slice(),
    policyRoutes: rng.pick(POLICY_ROUTES).slice(),
    quarantineFolder: blocked ? folder : null,
    quarantineRule: blocked ? rule : null,
    recipient: [],
    replyToAddress: replyTo === null ? [] : [replyTo.includes('<') ? `help@${senderDomain}` : replyTo],
    sender: sender.address,
    senderIP: senderIp(rng),
    subject: fillN(rng.pick(SUBJECTS), rng),
    threatsInfoMap: threats,
    toAddresses: recipients.slice(),
    xmailer: rng.chance(0.7) ? null : rng.pick(XMAILERS),
  }
}

function clickEvent(rng: Rng, timeMs: number, id: string): JsonObject {
  const to = recipient(rng)
  const sender = rng.pick(SENDERS)
  const threatId = hexChars(rng, 8)
  return {
    campaignId: campaign(rng),
    classification: rng.pick(CLASSIFICATIONS),
    clickIP: clickIp(rng),
    clickTime: apiTime(timeMs, rng.chance(0.15)),
    GUID: guid(rng),
    id,
    messageID: `<${hex32(rng.u32())}${hex16(rng.u32())}@mail.example>`,
    recipient: to,
    sender: sender.address,
    senderIP: senderIp(rng),
    threatID: threatId,
    threatStatus: threatStatus(rng),
    threatTime: new Date(timeMs - rng.int(1_800_000)).toISOString(),
    threatURL: threatUrl(rng, threatId),
    url: `http://bad.example/${hex32(rng.u32()).slice(0, 6)}?u=${encodeURIComponent(to)}`,
    userAgent: rng.pick(USER_AGENTS),
  }
}

/** Poisson-distributed count with mean `mean` (normal approximation above 30). */
function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0
  if (mean > 30) {
    const u = 1 - rng.float()
    const v = rng.float()
    const gauss = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * gauss))
  }
  const limit = Math.exp(-mean)
  let k = 0
  let p = rng.float()
  while (p > limit) {
    k++
    p *= rng.float()
  }
  return k
}

/** One message or click of a minute, before its content is made: enough to sort and filter by time. */
interface Slot {
  timeMs: number
  type: EventType
  lag: number
  /** Events it gives: one per recipient for messages, 1 for clicks. */
  copies: number
  /** Seed of its content, so a slot outside the window costs nothing. */
  seed: number
  /** Index of its first event in the minute (part of the event ids, which makes them unique). */
  index: number
}

/** The minute's slots in time order: a pure function of (seed, eventsPerMinute, minute). */
function minuteSlots(minute: number, opts: GeneratorOptions): Slot[] {
  const rng = new Rng(minuteSeed(opts.seed, minute))
  const target = poisson(rng, opts.eventsPerMinute)
  const slots: Slot[] = []
  const minuteStart = minute * MINUTE_MS
  let events = 0
  while (events < target) {
    let offset = rng.int(MINUTE_MS)
    if (rng.chance(0.2)) offset -= offset % 1000 // some events carry whole seconds
    const r = rng.float()
    const type: EventType = r < 0.6 ? 'messagesDelivered' : r < 0.8 ? 'messagesBlocked' : r < 0.92 ? 'clicksPermitted' : 'clicksBlocked'
    const m = rng.float()
    const copies = type === 'clicksPermitted' || type === 'clicksBlocked' ? 1 : m < 0.87 ? 1 : m < 0.97 ? 2 : 3
    slots.push({ timeMs: minuteStart + offset, type, lag: rng.float(), copies, seed: rng.u32(), index: events })
    events += copies
  }
  slots.sort((a, b) => a.timeMs - b.timeMs || a.index - b.index)
  return slots
}

/** The events of one slot (several for a message to several recipients). */
function slotEvents(slot: Slot, minute: number, visit: (e: GeneratedEvent) => void): void {
  const rng = new Rng(slot.seed)
  const { type, timeMs, lag } = slot
  if (type === 'clicksPermitted' || type === 'clicksBlocked') {
    visit({ type, timeMs, lag, event: clickEvent(rng, timeMs, eventId(rng, minute, slot.index)) })
    return
  }
  const recipients: string[] = []
  for (let k = 0; k < slot.copies; k++) {
    let to = recipient(rng)
    while (recipients.includes(to)) to = recipient(rng)
    recipients.push(to)
  }
  const base = messageEvent(rng, type, timeMs, recipients)
  for (let k = 0; k < slot.copies; k++) {
    // One event per recipient: identical but for `recipient` and `id` (and the order of messageParts, which the
    // API does not keep either).
    const event: JsonObject = k === 0 ? base : cloneMessage(base)
    if (k > 0) shuffle(rng, event.messageParts as JsonObject[])
    event.id = eventId(rng, minute, slot.index + k)
    event.recipient = [recipients[k] as string]
    visit({ type, timeMs, lag, event })
  }
}

/** A copy of a message event that shares no arrays or objects with the original. */
function cloneMessage(e: JsonObject): JsonObject {
  const copy: JsonObject = { ...e }
  for (const [k, v] of Object.entries(e)) {
    if (Array.isArray(v)) copy[k] = v.map((x) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? { ...x } : x))
  }
  return copy
}

/** Calls `visit` for every generated event with start ≤ time ≤ end (epoch ms), in time order. Events are made
 *  one at a time and not kept, so memory stays flat however many there are. */
export function forEachGeneratedEvent(startMs: number, endMs: number, opts: GeneratorOptions, visit: (e: GeneratedEvent) => void): void {
  if (!(endMs >= startMs)) return
  const first = Math.floor(startMs / MINUTE_MS)
  const last = Math.floor(endMs / MINUTE_MS)
  for (let m = first; m <= last; m++) {
    for (const slot of minuteSlots(m, opts)) {
      if (slot.timeMs >= startMs && slot.timeMs <= endMs) slotEvents(slot, m, visit)
    }
  }
}

/** The events whose time falls in epoch minute `minute`, in time order. Pure: same inputs, same events. */
export function generateMinute(minute: number, opts: GeneratorOptions): GeneratedEvent[] {
  const start = minute * MINUTE_MS
  return generateEvents(start, start + MINUTE_MS - 1, opts)
}

/** The generated events with start ≤ time ≤ end (epoch ms), in time order. */
export function generateEvents(startMs: number, endMs: number, opts: GeneratorOptions): GeneratedEvent[] {
  const out: GeneratedEvent[] = []
  forEachGeneratedEvent(startMs, endMs, opts, (e) => out.push(e))
  return out
}
