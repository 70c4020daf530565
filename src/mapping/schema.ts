/**
 * The field table: what the Proofpoint TAP SIEM API (v2) sends for each event family, and the schema type of
 * every known field (design §2; message fields follow Panther's `Proofpoint.Event` schema).
 *
 * The table is used to *check* values, never to coerce them: a value whose JSON type contradicts its schema
 * type is exported as what it is and the event is counted as malformed (see map-event.ts).
 * Fields not listed here are unknown and kept by their JSON type.
 */
import type { EventType } from '../siem/types.js'

/**
 * Scalar schema types. `time` is an RFC 3339 string; `number` any finite number; `flag` a bool, or one of the strings
 * Proofpoint's documentation gives for it (`"true"`, `"false"`, `"na"`: its sample events send them so).
 */
export type ScalarKind = 'string' | 'int' | 'number' | 'bool' | 'flag' | 'time'

export type FieldSpec =
  | { readonly kind: ScalarKind }
  /** `single`: a lone string is as good (Proofpoint's documented sample sends `fromAddress` so). */
  | { readonly kind: 'stringArray'; readonly single?: true }
  /** An array of objects; `keys` are the known keys of its elements and their types. */
  | { readonly kind: 'objectArray'; readonly keys: Readonly<Record<string, ScalarKind>> }

export type EventFamily = 'message' | 'click'

const STRING = { kind: 'string' } as const
const INT = { kind: 'int' } as const
const NUMBER = { kind: 'number' } as const
const FLAG = { kind: 'flag' } as const
const TIME = { kind: 'time' } as const
const STRING_ARRAY = { kind: 'stringArray' } as const

export const MESSAGE_PART_KEYS: Readonly<Record<string, ScalarKind>> = {
  contentType: 'string',
  disposition: 'string',
  filename: 'string',
  md5: 'string',
  oContentType: 'string',
  sandboxStatus: 'string',
  sha256: 'string',
}

export const THREAT_INFO_KEYS: Readonly<Record<string, ScalarKind>> = {
  threatUrl: 'string',
  threatID: 'string',
  threatStatus: 'string',
  classification: 'string',
  threatTime: 'time',
  threat: 'string',
  campaignID: 'string',
  threatType: 'string',
}

export const MESSAGE_FIELDS: Readonly<Record<string, FieldSpec>> = {
  messageTime: TIME,
  messageParts: { kind: 'objectArray', keys: MESSAGE_PART_KEYS },
  threatsInfoMap: { kind: 'objectArray', keys: THREAT_INFO_KEYS },
  fromAddress: { kind: 'stringArray', single: true },
  toAddresses: STRING_ARRAY,
  recipient: STRING_ARRAY,
  ccAddresses: STRING_ARRAY,
  replyToAddress: STRING_ARRAY,
  policyRoutes: STRING_ARRAY,
  modulesRun: STRING_ARRAY,
  completelyRewritten: FLAG,
  id: STRING,
  QID: STRING,
  GUID: STRING,
  sender: STRING,
  senderIP: STRING,
  messageID: STRING,
  spamScore: INT,
  phishScore: INT,
  // A fraction in Proofpoint's documented sample (`0.0`); the other scores are whole.
  impostorScore: NUMBER,
  malwareScore: INT,
  messageSize: INT,
  cluster: STRING,
  subject: STRING,
  quarantineFolder: STRING,
  quarantineRule: STRING,
  headerFrom: STRING,
  headerReplyTo: STRING,
  xmailer: STRING,
}

/** `recipient` is a single address here, an array in MESSAGE_FIELDS. */
export const CLICK_FIELDS: Readonly<Record<string, FieldSpec>> = {
  clickTime: TIME,
  clickIP: STRING,
  url: STRING,
  userAgent: STRING,
  recipient: STRING,
  sender: STRING,
  senderIP: STRING,
  GUID: STRING,
  id: STRING,
  messageID: STRING,
  threatID: STRING,
  threatURL: STRING,
  threatTime: TIME,
  threatStatus: STRING,
  classification: STRING,
  campaignId: STRING,
}

export const EVENT_FAMILY: Readonly<Record<EventType, EventFamily>> = {
  messagesDelivered: 'message',
  messagesBlocked: 'message',
  clicksPermitted: 'click',
  clicksBlocked: 'click',
}

/** The field that holds the event time, which becomes the log record's Timestamp. */
export const TIME_FIELD: Readonly<Record<EventFamily, string>> = {
  message: 'messageTime',
  click: 'clickTime',
}

export const EVENT_NAMES: Readonly<Record<EventType, string>> = {
  messagesDelivered: 'proofpoint.message.delivered',
  messagesBlocked: 'proofpoint.message.blocked',
  clicksPermitted: 'proofpoint.click.permitted',
  clicksBlocked: 'proofpoint.click.blocked',
}

/** Attribute key prefix: `proofpoint.<field name as the API spells it>`. */
export const ATTRIBUTE_PREFIX = 'proofpoint.'

/** A known field and its attribute key, precomputed for the hot path. */
interface CompiledField {
  readonly spec: FieldSpec
  readonly attributeKey: string
}

/** Lookups built once: `Map` is faster than a plain object for per-event `get` of arbitrary keys. */
export const COMPILED_FIELDS: Readonly<Record<EventFamily, ReadonlyMap<string, CompiledField>>> = {
  message: compile(MESSAGE_FIELDS),
  click: compile(CLICK_FIELDS),
}

function compile(fields: Readonly<Record<string, FieldSpec>>): ReadonlyMap<string, CompiledField> {
  const m = new Map<string, CompiledField>()
  for (const [name, spec] of Object.entries(fields)) m.set(name, { spec, attributeKey: ATTRIBUTE_PREFIX + name })
  return m
}
