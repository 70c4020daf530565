import t from 'tap'
import { toOtlpJson } from '../../src/export/otlp-json.js'
import { PROCESS_INSTANCE_ID, SCOPE_NAME } from '../../src/export/resource.js'
import type { MappedRecord } from '../../src/mapping/types.js'
import { decodeLogRecords } from '../helpers/otlp-sink.js'

const resourceOpts = { serviceName: 'psr', serviceVersion: '1.2.3', resourceAttributes: { 'deployment.environment.name': 'prod' } }

function record(extra: Partial<MappedRecord> = {}): MappedRecord {
  return {
    eventType: 'clicksPermitted',
    eventName: 'proofpoint.click.permitted',
    uid: 'clicksPermitted:abc',
    timestamp: [1_700_000_000, 5],
    observedTimestamp: [1_700_000_060, 999_999_999],
    severityNumber: 13,
    severityText: 'WARN',
    attributes: {
      'log.record.uid': 'clicksPermitted:abc',
      'proofpoint.event_type': 'clicksPermitted',
      'proofpoint.spamScore': 42,
      'proofpoint.big': 2 ** 62,
      'proofpoint.negative': -7,
      'proofpoint.huge': 1e21,
      'proofpoint.ratio': 0.5,
      'proofpoint.flag': false,
      'proofpoint.list': ['a', 1, true],
      'proofpoint.map': { k: 'v', n: 3 },
    },
    body: '{"id":"abc"}',
    malformed: [],
    ...extra,
  }
}

interface KeyValue {
  key: string
  value: Record<string, unknown>
}

t.test('an OTLP/JSON ExportLogsServiceRequest with the OTLP JSON encoding', (t) => {
  const json = toOtlpJson([record(), record({ timestamp: undefined, body: undefined })], resourceOpts)
  t.notMatch(json, '\n', 'compact by default')
  const req = JSON.parse(json) as {
    resourceLogs: Array<{
      resource: { attributes: KeyValue[] }
      scopeLogs: Array<{ scope: { name: string; version: string }; logRecords: Array<Record<string, unknown> & { attributes: KeyValue[] }> }>
    }>
  }
  t.equal(req.resourceLogs.length, 1)
  const rl = req.resourceLogs[0]!
  const resource = Object.fromEntries(rl.resource.attributes.map((kv) => [kv.key, kv.value]))
  t.same(resource['service.name'], { stringValue: 'psr' })
  t.same(resource['service.version'], { stringValue: '1.2.3' })
  t.same(resource['service.instance.id'], { stringValue: PROCESS_INSTANCE_ID })
  t.same(resource['deployment.environment.name'], { stringValue: 'prod' })
  t.same(rl.scopeLogs[0]!.scope, { name: SCOPE_NAME, version: '1.2.3' })

  const [a, b] = rl.scopeLogs[0]!.logRecords
  t.equal(a!.timeUnixNano, '1700000000000000005', 'int64 as a decimal string, to the nanosecond')
  t.equal(a!.observedTimeUnixNano, '1700000060999999999')
  t.equal(a!.severityNumber, 13, 'enum as an integer')
  t.equal(a!.severityText, 'WARN')
  t.equal(a!.eventName, 'proofpoint.click.permitted')
  t.same(a!.body, { stringValue: '{"id":"abc"}' })
  const attrs = Object.fromEntries(a!.attributes.map((kv) => [kv.key, kv.value]))
  t.same(attrs['proofpoint.spamScore'], { intValue: '42' })
  t.same(attrs['proofpoint.big'], { intValue: '4611686018427387904' })
  t.same(attrs['proofpoint.negative'], { intValue: '-7' })
  t.same(attrs['proofpoint.huge'], { doubleValue: 1e21 }, 'beyond int64: a double')
  t.same(attrs['proofpoint.ratio'], { doubleValue: 0.5 })
  t.same(attrs['proofpoint.flag'], { boolValue: false })
  t.same(attrs['proofpoint.list'], { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }, { boolValue: true }] } })
  t.same(attrs['proofpoint.map'], {
    kvlistValue: {
      values: [
        { key: 'k', value: { stringValue: 'v' } },
        { key: 'n', value: { intValue: '3' } },
      ],
    },
  })
  t.equal(b!.timeUnixNano, '0', 'unknown event time: 0, not the time of mapping')
  t.end()
})

t.test('what a collector decodes from it is what was mapped', (t) => {
  const decoded = decodeLogRecords(Buffer.from(toOtlpJson([record()], resourceOpts)), 'json')
  t.equal(decoded.length, 1)
  const r = decoded[0]!
  t.equal(r.timeUnixNano, 1_700_000_000_000_000_005n)
  t.equal(r.observedTimeUnixNano, 1_700_000_060_999_999_999n)
  t.equal(r.attributes['proofpoint.big'], 2n ** 62n, 'exact beyond 2^53')
  t.equal(r.attributeKinds['proofpoint.big'], 'int')
  t.equal(r.attributes['proofpoint.spamScore'], 42)
  t.equal(r.attributeKinds['proofpoint.ratio'], 'double')
  t.same(r.attributes['proofpoint.map'], { k: 'v', n: 3 })
  t.same(r.scope, { name: SCOPE_NAME, version: '1.2.3' })
  t.end()
})

t.test('indentation on request; no records: an empty request', (t) => {
  t.match(toOtlpJson([record()], resourceOpts, { space: 2 }), /\n {2}"resourceLogs"/)
  t.same(JSON.parse(toOtlpJson([], resourceOpts)), { resourceLogs: [] })
  t.end()
})
