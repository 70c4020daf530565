/** Mapped records for export tests: typed attributes of every kind, non-ASCII text, a JSON body, nanosecond times. */
import type { MappedRecord } from '../../src/mapping/types.js'

export const BASE_SECONDS = 1_700_000_000

/** Record `i`: its uid, timestamp and spamScore follow i, so order and identity can be checked at the collector. */
export function record(i: number, extra: Partial<MappedRecord> = {}): MappedRecord {
  const uid = `messagesDelivered:${i.toString(16).padStart(8, '0')}`
  return {
    eventType: 'messagesDelivered',
    eventName: 'proofpoint.message.delivered',
    uid,
    timestamp: [BASE_SECONDS + i, 123_456_789],
    observedTimestamp: [BASE_SECONDS + 3600, 987_654_321],
    severityNumber: 13,
    severityText: 'WARN',
    attributes: {
      'proofpoint.event_type': 'messagesDelivered',
      'log.record.uid': uid,
      'proofpoint.spamScore': 42 + i,
      'proofpoint.phishScore': 0,
      'proofpoint.ratio': 0.25,
      'proofpoint.completelyRewritten': true,
      'proofpoint.toAddresses': ['a@example.com', 'b@example.com'],
      'proofpoint.messageParts.sha256': ['ab12', ''],
      'proofpoint.subject': 'Invoice "Q3" ✓ 💥 \\ naïve',
    },
    body: JSON.stringify({ GUID: `g-${i}`, subject: 'Invoice "Q3"', spamScore: 42 + i }),
    malformed: [],
    ...extra,
  }
}
