/** The test OTLP/HTTP sink (helpers/otlp-sink.ts) answers like a collector, so the suites that use it test the receiver, not the sink. */
import t from 'tap'
import { startOtlpSink } from './otlp-sink.js'

t.test('the sink answers like a collector to what is not an OTLP logs request', async (t) => {
  const sink = await startOtlpSink({ maxBodyBytes: 100 })
  t.teardown(() => sink.close())
  const post = (path: string, contentType: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<number> =>
    fetch(`${sink.url}${path}`, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body }).then((r) => r.status)
  t.equal((await fetch(sink.logsUrl)).status, 405)
  t.equal(await post('/v1/traces', 'application/x-protobuf', ''), 404)
  t.equal(await post('/v1/logs', 'text/plain', 'hi'), 415)
  t.equal(await post('/v1/logs', 'application/json', '{not json'), 400)
  t.equal(await post('/v1/logs', 'application/x-protobuf', Buffer.from([0xff, 0xff, 0xff])), 400)
  t.equal(await post('/v1/logs', 'application/json', 'x', { 'content-encoding': 'gzip' }), 400)
  t.equal(await post('/v1/logs', 'application/json', '{}', { 'content-encoding': 'br' }), 415)
  t.equal(await post('/v1/logs', 'application/json', JSON.stringify({ resourceLogs: [], pad: 'x'.repeat(200) })), 413)
  t.equal(await post('/v1/logs', 'application/json', '{"resourceLogs":[]}'), 200)
  t.same(
    sink.requests.map((r) => r.status),
    [405, 404, 415, 400, 400, 400, 415, 413, 200],
  )
  t.equal(sink.records.length, 0)
  await t.rejects(sink.waitFor(1, 50), /0 of 1 records/)
  sink.clear()
  t.equal(sink.requests.length, 0)
})
