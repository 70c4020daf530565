import type { AnyValue } from '@opentelemetry/api-logs'
import type { MappedRecord } from '../mapping/types.js'

/** Shortens and single-lines attacker-controlled text so one record stays one terminal line. */
function clip(value: AnyValue | undefined, max = 60): string {
  if (value === undefined || value === null) return '-'
  const s = (Array.isArray(value) ? value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value))
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
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
    : `${clip(a['proofpoint.sender'], 30)} → ${clip(a['proofpoint.recipient'], 30)} "${clip(a['proofpoint.subject'], 40)}"`
  const flags = r.malformed.length > 0 ? ` MALFORMED(${r.malformed.join('; ')})` : ''
  return `${isoFromHr(r.timestamp)} ${r.severityText.padEnd(5)} ${r.eventName.padEnd(28)} ${who} threat=${threat} uid=${r.uid.slice(0, 12)}${flags}`
}
