/**
 * Indicators and standard fields end to end (issue 14): the receiver with its default configuration polls the simulated
 * API, and what the OTLP sink decodes carries, for every event, exactly the related.* and standard attributes the
 * mapping computes from the event in its body, in both attribute shapes and both encodings; turned off, none.
 */
import t from 'tap'
import { indicatorAttributes } from '../../src/mapping/indicators.js'
import { standardAttributes } from '../../src/mapping/standard-fields.js'
import type { JsonObject } from '../../src/siem/types.js'
import { rig } from '../helpers/e2e-rig.js'

const ADDED = /^(related|email|url|client|source|user_agent)\./

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  for (const shape of ['flat', 'nested'] as const) {
    t.test(`${protocol}, ${shape}: every record carries the indicators and standard fields of its event`, async (t) => {
      const r = await rig(t, protocol, { RECEIVER_ATTRIBUTE_SHAPE: shape }, 2)
      await r.startApp()
      await r.time.idle()
      t.ok(r.sink.records.length > 50, `${r.sink.records.length} records`)
      const seen = new Set<string>()
      for (const rec of r.sink.records) {
        const event = JSON.parse(String(rec.body)) as JsonObject
        const family = String(rec.attributes['proofpoint.event_type']).startsWith('clicks') ? 'click' : 'message'
        const expected = { ...standardAttributes(event, family, shape), ...indicatorAttributes(event, family) }
        const got = Object.fromEntries(Object.entries(rec.attributes).filter(([k]) => ADDED.test(k)))
        t.same(got, expected, `${family} ${String(rec.attributes['proofpoint.id'])}`)
        for (const k of Object.keys(got)) seen.add(k)
        if (!t.passing()) break
      }
      for (const k of ['related.email', 'related.ip', 'related.url', 'related.hosts', 'related.hash', 'email.to.address', 'url.full', 'client.address']) {
        t.ok(seen.has(k), `${k} on some record`)
      }
      t.equal(seen.has('email.attachments'), shape === 'nested', 'nested: email.attachments as a list of maps')
      t.equal(seen.has('email.attachments.file.hash.sha256'), shape === 'flat', 'flat: index-aligned arrays')
    })
  }
}

t.test('RECEIVER_INDICATORS=false and RECEIVER_STANDARD_FIELDS=false: only the proofpoint.* attributes', async (t) => {
  const r = await rig(t, 'http/protobuf', { RECEIVER_INDICATORS: 'false', RECEIVER_STANDARD_FIELDS: 'false' }, 2)
  await r.startApp()
  await r.time.idle()
  t.ok(r.sink.records.length > 50)
  t.same(
    r.sink.records.flatMap((rec) => Object.keys(rec.attributes).filter((k) => ADDED.test(k))),
    [],
  )
})
