import t from 'tap'
import { Registry, register as globalRegistry } from 'prom-client'

import { METRIC_PREFIX, ReceiverMetrics } from '../../src/ops/metrics.js'
import type { MetricsSource } from '../../src/ops/server.js'
import { ReceiverStatus } from '../../src/status/index.js'

const T0 = Date.parse('2024-05-01T00:00:00.000Z')
const MIN = 60_000
const HOUR = 60 * MIN
const SECRET = 'S3cr3t-Zebra-Quokka-9f41'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}
interface Exposition {
  types: Map<string, string>
  help: Map<string, string>
  samples: Sample[]
}

/** A small parser for the Prometheus text format (0.0.4): `# HELP`, `# TYPE` and `name{a="b",…} value` lines. */
function parse(text: string): Exposition {
  const out: Exposition = { types: new Map(), help: new Map(), samples: [] }
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string]
      ;(kind === 'TYPE' ? out.types : out.help).set(name, rest)
      continue
    }
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line)
    if (!m) throw new Error(`not an exposition line: ${line}`)
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string]
    const labels: Record<string, string> = {}
    if (labelText) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy
      let lm: RegExpExecArray | null
      let consumed = 0
      while ((lm = re.exec(labelText)) !== null) {
        labels[lm[1] as string] = (lm[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
        consumed = re.lastIndex
      }
      if (consumed !== labelText.length) throw new Error(`bad labels: ${line}`)
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText)
    if (Number.isNaN(value) && !/^nan$/i.test(valueText)) throw new Error(`bad value: ${line}`)
    out.samples.push({ name, labels, value })
  }
  return out
}

/** The samples of `name` whose labels include `labels`. */
function find(e: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
}

/** The value of the one sample of `name` with exactly these labels (besides none others). */
function value(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = e.samples.filter(
    (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`)
  return hits[0]?.value
}

function makeStatus(over: Partial<ConstructorParameters<typeof ReceiverStatus>[0]> = {}): ReceiverStatus {
  return new ReceiverStatus({
    startedAt: T0,
    noEventsAlertAfterMs: 2 * HOUR,
    pollIntervalMs: MIN,
    eventTypes: ['messagesDelivered', 'messagesBlocked', 'clicksPermitted', 'clicksBlocked'],
    version: '1.2.3',
    ...over,
  })
}

function rig(over: { collectProcessMetrics?: boolean; registry?: Registry } = {}): {
  status: ReceiverStatus
  metrics: ReceiverMetrics
  clock: { now: number }
  scrape: () => Promise<Exposition>
} {
  const status = makeStatus()
  const clock = { now: T0 }
  const metrics = new ReceiverMetrics({ status, now: () => clock.now, collectProcessMetrics: false, ...over })
  return { status, metrics, clock, scrape: async () => parse(await metrics.render()) }
}

const P = METRIC_PREFIX
const EVENT_METRICS = ['received', 'exported', 'malformed', 'rejected', 'duplicates'].map((k) => `${P}events_${k}_total`)

void t.test('a fresh receiver: every metric present with its type, zeros, and nothing unknown made up', async (t) => {
  const { metrics, scrape } = rig({ collectProcessMetrics: true })
  const source: MetricsSource = metrics // what the ops server's GET /metrics takes
  t.match(source.contentType, /^text\/plain; version=0\.0\.4/)
  const e = await scrape()

  // The receiver's own metrics are prefixed; prom-client's process and Node.js metrics keep their standard names,
  // which stock dashboards and alerts look for.
  const standard = (name: string): boolean => name.startsWith('process_') || name.startsWith('nodejs_')
  for (const name of e.types.keys()) t.ok(name.startsWith(P) || standard(name), `${name} is prefixed or standard`)
  for (const s of e.samples) t.ok(s.name.startsWith(P) || standard(s.name), `sample ${s.name} is prefixed or standard`)
  t.notOk([...e.types.keys()].some((n) => n.startsWith(`${P}process_`) || n.startsWith(`${P}nodejs_`)), 'no renamed process metrics')

  const types: Record<string, string> = {
    ...Object.fromEntries(EVENT_METRICS.map((n) => [n, 'counter'])),
    [`${P}api_requests_total`]: 'counter',
    [`${P}api_request_duration_seconds`]: 'histogram',
    [`${P}export_requests_total`]: 'counter',
    [`${P}export_duration_seconds`]: 'histogram',
    [`${P}api_bytes_total`]: 'counter',
    [`${P}export_bytes_total`]: 'counter',
    [`${P}cursor_lag_seconds`]: 'gauge',
    [`${P}last_successful_poll_timestamp_seconds`]: 'gauge',
    [`${P}last_successful_export_timestamp_seconds`]: 'gauge',
    [`${P}api_requests_last_24h`]: 'gauge',
    [`${P}request_budget`]: 'gauge',
    [`${P}request_budget_waiting`]: 'gauge',
    [`${P}no_events_alert`]: 'gauge',
    [`${P}no_events_threshold_seconds`]: 'gauge',
    [`${P}gap_seconds_total`]: 'counter',
    [`${P}attributes_dropped_total`]: 'counter',
    [`${P}export_splits_total`]: 'counter',
    [`${P}ready`]: 'gauge',
    [`${P}info`]: 'gauge',
    // process metrics from prom-client, under their standard names
    process_cpu_seconds_total: 'counter',
    process_resident_memory_bytes: 'gauge',
    process_start_time_seconds: 'gauge',
    nodejs_eventloop_lag_seconds: 'gauge',
    nodejs_heap_size_used_bytes: 'gauge',
  }
  for (const [name, type] of Object.entries(types)) t.equal(e.types.get(name), type, `# TYPE ${name} ${type}`)
  for (const name of Object.keys(types)) t.ok(e.help.get(name), `${name} has help`)
  t.match(e.help.get(`${P}export_duration_seconds`), /one export call: a batch of up to RECEIVER_EXPORT_BATCH_SIZE records/, 'an export call is a batch, not a window')

  for (const name of EVENT_METRICS) {
    for (const type of ['messagesDelivered', 'messagesBlocked', 'clicksPermitted', 'clicksBlocked']) {
      t.equal(value(e, name, { event_type: type }), 0, `${name}{event_type=${type}} starts at 0`)
    }
  }
  t.equal(find(e, `${P}api_requests_total`).length, 0, 'no API request series before a request')
  for (const outcome of ['ok', 'error', 'rejected']) {
    t.equal(value(e, `${P}export_requests_total`, { outcome }), 0, `export_requests_total{outcome=${outcome}} starts at 0`)
    t.equal(value(e, `${P}export_duration_seconds_count`, { outcome }), 0)
  }
  t.equal(value(e, `${P}export_requests_total`, { outcome: 'too_large' }), 0, 'too_large (413 splits) starts at 0 too')
  t.equal(value(e, `${P}api_request_duration_seconds_count`, { outcome: 'ok' }), 0)
  t.equal(value(e, `${P}api_bytes_total`), 0, 'no bytes read yet')
  t.equal(value(e, `${P}export_bytes_total`), 0, 'no bytes sent yet')
  t.equal(value(e, `${P}last_successful_poll_timestamp_seconds`), 0, 'never: 0')
  t.equal(value(e, `${P}last_successful_export_timestamp_seconds`), 0, 'never: 0')
  t.equal(find(e, `${P}cursor_lag_seconds`).length, 0, 'no lag sample before there is a cursor')
  t.equal(find(e, `${P}request_budget`).length, 0, 'no budget sample before the budget is known')
  t.equal(value(e, `${P}request_budget_waiting`), 0)
  t.equal(value(e, `${P}api_requests_last_24h`), 0)
  t.equal(value(e, `${P}no_events_alert`), 0)
  t.equal(value(e, `${P}no_events_threshold_seconds`), 7200)
  t.equal(value(e, `${P}gap_seconds_total`), 0)
  t.equal(value(e, `${P}attributes_dropped_total`), 0)
  t.equal(value(e, `${P}export_splits_total`), 0)
  t.equal(value(e, `${P}ready`), 0, 'not ready before a successful poll')
  t.equal(value(e, `${P}info`, { version: '1.2.3' }), 1)
})

void t.test('values follow the status: events per type, times, budget, gap, readiness', async (t) => {
  const { status, metrics, clock, scrape } = rig()
  status.count('messagesDelivered', { received: 10, exported: 7, malformed: 1, duplicates: 2, rejected: 1 })
  status.count('clicksBlocked', { received: 3, exported: 3 })
  status.count('messagesDelivered', { received: 5, exported: 5 })
  clock.now = T0 + 10 * MIN + 500
  status.setCursor(new Date(T0 + 8 * MIN).toISOString())
  status.recordPoll({ at: T0 + 9 * MIN, outcome: 'ok', httpStatus: 200, events: 18 })
  status.recordExport({ at: T0 + 9 * MIN + 1500, outcome: 'ok', records: 15, droppedAttributes: 40, splits: 1 })
  status.recordExport({ at: T0 + 9 * MIN + 1500, outcome: 'ok', records: 0, droppedAttributes: 2, splits: 2 })
  status.setLastEventAt(new Date(T0 + 9 * MIN + 1500).toISOString())
  status.setApiRequestCounter(() => 42)
  status.setRequestBudget(1800, undefined)
  status.setGapSeconds(3600)

  let e = await scrape()
  t.equal(value(e, `${P}events_received_total`, { event_type: 'messagesDelivered' }), 15)
  t.equal(value(e, `${P}events_exported_total`, { event_type: 'messagesDelivered' }), 12)
  t.equal(value(e, `${P}events_malformed_total`, { event_type: 'messagesDelivered' }), 1)
  t.equal(value(e, `${P}events_duplicates_total`, { event_type: 'messagesDelivered' }), 2)
  t.equal(value(e, `${P}events_rejected_total`, { event_type: 'messagesDelivered' }), 1)
  t.equal(value(e, `${P}events_received_total`, { event_type: 'clicksBlocked' }), 3)
  t.equal(value(e, `${P}events_exported_total`, { event_type: 'clicksBlocked' }), 3)
  t.equal(value(e, `${P}events_received_total`, { event_type: 'clicksPermitted' }), 0)
  t.equal(find(e, `${P}events_received_total`).length, 4, 'one series per event type')
  t.equal(value(e, `${P}cursor_lag_seconds`), 120, 'now − cursor, whole seconds')
  t.equal(value(e, `${P}last_successful_poll_timestamp_seconds`), (T0 + 9 * MIN) / 1000)
  t.equal(value(e, `${P}last_successful_export_timestamp_seconds`), (T0 + 9 * MIN + 1500) / 1000, 'millisecond precision kept')
  t.equal(value(e, `${P}api_requests_last_24h`), 42)
  t.equal(value(e, `${P}request_budget`), 1800)
  t.equal(value(e, `${P}gap_seconds_total`), 3600)
  t.equal(value(e, `${P}attributes_dropped_total`), 42, 'attributes dropped over the count limit, summed over the exports')
  t.equal(value(e, `${P}export_splits_total`), 3, 'requests split after a 413, summed over the exports')
  t.equal(value(e, `${P}ready`), 1)

  // Failures afterwards: the success timestamps stay, readiness drops, the budget wait shows.
  status.recordPoll({ at: T0 + 11 * MIN, outcome: 'error', httpStatus: 500, events: 0, error: { code: 'SIEM_SERVER', message: 'boom' } })
  status.recordExport({ at: T0 + 11 * MIN, outcome: 'error', records: 3, error: { code: 'EXPORT', message: 'down', retryable: true } })
  status.setRequestBudget(1800, T0 + 12 * MIN)
  clock.now = T0 + 11 * MIN
  e = await scrape()
  t.equal(value(e, `${P}last_successful_poll_timestamp_seconds`), (T0 + 9 * MIN) / 1000, 'a failed poll does not move it')
  t.equal(value(e, `${P}last_successful_export_timestamp_seconds`), (T0 + 9 * MIN + 1500) / 1000, 'a failed export does not move it')
  t.equal(value(e, `${P}ready`), 0)
  t.equal(value(e, `${P}request_budget_waiting`), 1)
  t.equal(value(e, `${P}cursor_lag_seconds`), 180)

  // Counters are read at scrape time: later counts show in the next scrape, never reset.
  status.count('messagesDelivered', { received: 1 })
  e = parse(await metrics.registry.metrics())
  t.equal(value(e, `${P}events_received_total`, { event_type: 'messagesDelivered' }), 16, 'the registry alone (without render) reads the status too')
})

void t.test('the no-events gauge flips with time and back when events flow', async (t) => {
  const { status, clock, scrape } = rig()
  clock.now = T0 + 2 * HOUR - 1
  t.equal(value(await scrape(), `${P}no_events_alert`), 0, 'just under the threshold, counted from process start')
  clock.now = T0 + 2 * HOUR
  t.equal(value(await scrape(), `${P}no_events_alert`), 1, 'at the threshold')
  status.setLastEventAt(new Date(clock.now).toISOString())
  t.equal(value(await scrape(), `${P}no_events_alert`), 0, 'cleared when events are exported')
  clock.now += 2 * HOUR
  t.equal(value(await scrape(), `${P}no_events_alert`), 1, 'raised again after another silent threshold')
})

void t.test('SIEM API requests by outcome and status code, and the duration histogram', async (t) => {
  const { metrics, scrape } = rig()
  metrics.observeApiRequest('ok', 200, 0.03)
  metrics.observeApiRequest('ok', 200, 0.7)
  metrics.observeApiRequest('ok', 204, 0.05)
  metrics.observeApiRequest('error', 429, 3)
  metrics.observeApiRequest('error', 401, 0.2)
  metrics.observeApiRequest('error', 500, 200)
  metrics.observeApiRequest('error', undefined, 30)
  metrics.observeApiRequest('error', 0, 1)
  metrics.observeApiRequest('error', 200.5, 1)
  metrics.observeApiRequest('ok', 200, -1)
  metrics.observeApiRequest('ok', 200, Number.NaN)
  metrics.observeApiRequest('ok', 200, Infinity)

  const e = await scrape()
  const req = `${P}api_requests_total`
  t.equal(value(e, req, { outcome: 'ok', status_code: '200' }), 5)
  t.equal(value(e, req, { outcome: 'ok', status_code: '204' }), 1)
  t.equal(value(e, req, { outcome: 'error', status_code: '429' }), 1)
  t.equal(value(e, req, { outcome: 'error', status_code: '401' }), 1)
  t.equal(value(e, req, { outcome: 'error', status_code: '500' }), 1)
  t.equal(value(e, req, { outcome: 'error', status_code: 'none' }), 3, 'no answer, or not an HTTP status: none')
  t.equal(find(e, req).length, 6)

  const h = `${P}api_request_duration_seconds`
  const bucket = (outcome: string, le: string): number | undefined => value(e, `${h}_bucket`, { outcome, le })
  // ok: 0.03, 0.7, 0.05, and -1 clamped to 0 (NaN and Infinity are not observed)
  t.equal(bucket('ok', '0.05'), 3, 'le is inclusive: 0, 0.03 and 0.05')
  t.equal(bucket('ok', '0.5'), 3)
  t.equal(bucket('ok', '1'), 4)
  t.equal(bucket('ok', '120'), 4)
  t.equal(bucket('ok', '+Inf'), 4)
  t.equal(value(e, `${h}_count`, { outcome: 'ok' }), 4)
  t.ok(Math.abs((value(e, `${h}_sum`, { outcome: 'ok' }) ?? NaN) - 0.78) < 1e-9)
  // error: 3, 0.2, 200, 30, 1, 1
  t.equal(bucket('error', '0.05'), 0)
  t.equal(bucket('error', '0.25'), 1)
  t.equal(bucket('error', '1'), 3)
  t.equal(bucket('error', '5'), 4)
  t.equal(bucket('error', '30'), 5)
  t.equal(bucket('error', '120'), 5)
  t.equal(bucket('error', '+Inf'), 6, 'over the last bucket counts in +Inf only')
  t.equal(value(e, `${h}_count`, { outcome: 'error' }), 6)
  const les = find(e, `${h}_bucket`, { outcome: 'ok' }).map((s) => s.labels.le)
  t.same(les, ['0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '120', '+Inf'], 'buckets from 50 ms to 2 min')
})

void t.test('export requests by outcome and the export duration histogram', async (t) => {
  const { metrics, scrape } = rig()
  metrics.observeExport('ok', 3, 0.4)
  metrics.observeExport('ok', 1, 0.02)
  metrics.observeExport('error', 0, 10.5)
  metrics.observeExport('rejected', 2, undefined)
  metrics.observeExport('ok', 0, undefined)
  metrics.observeExport('ok', Number.NaN, undefined)

  const e = await scrape()
  t.equal(value(e, `${P}export_requests_total`, { outcome: 'ok' }), 4, 'requests, not calls')
  t.equal(value(e, `${P}export_requests_total`, { outcome: 'error' }), 0, 'a failed call that made no acknowledged request')
  t.equal(value(e, `${P}export_requests_total`, { outcome: 'rejected' }), 2)
  const h = `${P}export_duration_seconds`
  t.equal(value(e, `${h}_count`, { outcome: 'ok' }), 2, 'one observation per call')
  t.equal(value(e, `${h}_bucket`, { outcome: 'ok', le: '0.05' }), 1)
  t.equal(value(e, `${h}_bucket`, { outcome: 'ok', le: '0.5' }), 2)
  t.equal(value(e, `${h}_count`, { outcome: 'error' }), 1)
  t.equal(value(e, `${h}_bucket`, { outcome: 'error', le: '10' }), 0)
  t.equal(value(e, `${h}_bucket`, { outcome: 'error', le: '30' }), 1)
  t.equal(value(e, `${h}_count`, { outcome: 'rejected' }), 0, 'seconds undefined: counted, not timed')
})

void t.test('bytes: SIEM API body bytes read and OTLP bytes sent', async (t) => {
  const { metrics, scrape } = rig()
  metrics.observeApiRequest('ok', 200, 0.1, 1500)
  metrics.observeApiRequest('ok', 200, 0.1, 500)
  metrics.observeApiRequest('ok', 204, 0.1, 0)
  metrics.observeApiRequest('error', 500, 0.1)
  metrics.observeApiRequest('ok', 200, 0.1, Number.NaN)
  metrics.observeApiRequest('ok', 200, 0.1, -3)
  metrics.observeExport('ok', 2, 0.1, 7000)
  metrics.observeExport('ok', 1, 0.1, 300)
  metrics.observeExport('ok', 1, 0.1)
  metrics.observeExport('error', 1, 0.1, Infinity)
  const e = await scrape()
  t.equal(value(e, `${P}api_bytes_total`), 2000)
  t.equal(value(e, `${P}export_bytes_total`), 7300)
})

void t.test('error text never reaches the metrics', async (t) => {
  const { status, metrics, scrape } = rig({ collectProcessMetrics: true })
  status.recordPoll({ at: T0, outcome: 'error', httpStatus: 401, events: 0, error: { code: 'SIEM_AUTH', message: `refused ${SECRET}` } })
  status.recordExport({ at: T0, outcome: 'error', records: 1, error: { code: 'EXPORT', message: `Authorization: Bearer ${SECRET}`, retryable: false } })
  status.setStateDirOk(false, `cannot write /data/${SECRET}`)
  status.setAuthFailing(true)
  metrics.observeApiRequest('error', 401, 0.1)
  metrics.observeExport('error', 1, 0.1)
  const text = await metrics.render()
  t.notMatch(text, SECRET)
  t.notMatch(text, 'Zebra')
  t.equal(value(await scrape(), `${P}ready`), 0)
})

void t.test('each instance has its own registry; a passed registry is used; the global one is left alone', async (t) => {
  const before = (await globalRegistry.getMetricsAsJSON()).length
  const a = rig()
  const b = rig({ collectProcessMetrics: true })
  t.not(a.metrics.registry, b.metrics.registry)
  a.metrics.observeApiRequest('ok', 200, 1)
  a.status.count('clicksPermitted', { received: 9 })
  const ea = await a.scrape()
  const eb = await b.scrape()
  t.equal(value(ea, `${P}api_requests_total`, { outcome: 'ok', status_code: '200' }), 1)
  t.equal(find(eb, `${P}api_requests_total`).length, 0, 'the other instance saw nothing')
  t.equal(value(ea, `${P}events_received_total`, { event_type: 'clicksPermitted' }), 9)
  t.equal(value(eb, `${P}events_received_total`, { event_type: 'clicksPermitted' }), 0)
  t.equal(find(ea, 'process_cpu_seconds_total').length, 0, 'collectProcessMetrics: false')
  t.equal(find(eb, 'process_cpu_seconds_total').length, 1)
  t.equal((await globalRegistry.getMetricsAsJSON()).length, before, 'nothing registered globally')

  const mine = new Registry()
  const c = rig({ registry: mine })
  t.equal(c.metrics.registry, mine)
  t.match(await mine.metrics(), `${P}info{version="1.2.3"} 1`)
})

void t.test('defaults: the wall clock and process metrics', async (t) => {
  const status = makeStatus({ startedAt: Date.now() })
  status.setCursor(new Date(Date.now() - 90_000).toISOString())
  const e = parse(await new ReceiverMetrics({ status }).render())
  const lag = value(e, `${P}cursor_lag_seconds`) ?? NaN
  t.ok(lag >= 89 && lag <= 120, `lag from Date.now: ${lag}`)
  t.equal(find(e, 'process_start_time_seconds').length, 1)
  t.equal(find(e, `${P}process_start_time_seconds`).length, 0, 'not renamed')
})

void t.test('the parser in this test rejects what it does not understand', (t) => {
  t.throws(() => parse('not a metric line at all'))
  t.throws(() => parse('x{a=b} 1'))
  t.throws(() => parse('x abc'))
  t.same(parse('# comment\nx{a="q\\"uote",b="n"} NaN 123').samples[0]?.labels, { a: 'q"uote', b: 'n' })
  t.end()
})
