/**
 * Big windows: a response whose whole-body parse needs more heap than the receiver's budget is still processed
 * completely, because the receiver parses, maps and exports it in batches as it arrives. Shown by measurement, the
 * same on Node 20, 22 and 24 (not by one runtime's out-of-memory behaviour): the parsed body's heap size against
 * the receiver's peak heap from its GC trace. And a failure in the middle of a
 * streamed window loses nothing and sends nothing twice.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { EVENT_TYPES } from '../../src/siem/types.js'
import { startSimulator } from '../../src/simulator/index.js'
import { H, MIN, T0, expectedUids, readState, rig } from '../helpers/e2e-rig.js'
import { startOtlpSink } from '../helpers/otlp-sink.js'

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url))
/** The receiver's heap budget (--max-old-space-size), in MB. */
const HEAP_MB = 64
const MB = 1024 * 1024

interface ChildRun {
  code: number | null
  signal: string | null
  stdout: string
  stderr: string
}

function runChild(args: string[], env: NodeJS.ProcessEnv, until?: () => boolean): Promise<ChildRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    // Only the lines the test reads are kept (the GC trace of a long run is large).
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-2_000_000)))
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)))
    const timer = setInterval(() => {
      if (until?.()) {
        clearInterval(timer)
        child.kill('SIGTERM')
      }
    }, 100)
    const guard = setTimeout(() => child.kill('SIGKILL'), 200_000) // a hang guard only, far beyond a loaded machine
    child.on('close', (code, signal) => {
      clearInterval(timer)
      clearTimeout(guard)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/**
 * The most heap the process ever used, in MB, from V8's --trace-gc lines ("Scavenge 12.3 (15.0) -> 10.1 (16.0) MB"
 * on Node 20, 22 and 24): each collection reports the heap in use before it, and between collections the heap only
 * grows, so the largest "before" is the peak. undefined when no line was found (the trace format changed).
 */
function peakHeapMb(trace: string): number | undefined {
  let peak: number | undefined
  for (const m of trace.matchAll(/(\d+(?:\.\d+)?) \((\d+(?:\.\d+)?)\) -> (\d+(?:\.\d+)?) \((\d+(?:\.\d+)?)\) MB/g)) {
    const before = Number(m[1])
    peak = Math.max(peak ?? 0, before)
  }
  return peak
}

// One receiver walks a ~60 MB window in a small heap: slow on a loaded machine, so the file gets more than tap's default.
t.setTimeout(300_000)

t.test(`a window whose whole-body parse needs more than a ${HEAP_MB} MB heap is processed completely within it`, async (t) => {
  const secret = 'stream-secret'
  const sim = await startSimulator({ principal: 'p', secret, eventsPerMinute: 600, seed: 3 })
  const sink = await startOtlpSink()
  const stateDir = mkdtempSync(join(tmpdir(), 'psr-stream-'))
  t.teardown(async () => {
    await sim.close()
    await sink.close()
    rmSync(stateDir, { recursive: true, force: true })
  })

  // The control, measured rather than provoked (whether a runtime runs out of memory at a given limit differs
  // between Node 20, 22 and 24): fetching the same hour whole and calling JSON.parse needs this much heap for the
  // parsed body alone, with no heap limit. It must exceed the budget, so holding the window at once cannot fit.
  const end = Math.floor(Date.now() / MIN) * MIN
  const interval = `${new Date(end - H).toISOString().replace('.000', '')}/${new Date(end).toISOString().replace('.000', '')}`
  const naive = `const r = await fetch(${JSON.stringify(`${sim.url}/v2/siem/all?format=json&interval=${interval}`)}, { headers: { authorization: 'Basic ' + btoa('p:${secret}') } });
    const text = await r.text(); gc(); const before = process.memoryUsage().heapUsed
    const body = JSON.parse(text); gc(); const after = process.memoryUsage().heapUsed
    console.log(JSON.stringify({ events: body.messagesDelivered.length, parsedMb: (after - before) / ${MB} }))`
  const control = await runChild(['--expose-gc', '--input-type=module', '-e', naive], process.env)
  t.equal(control.code, 0, `the whole-body parse ran without a heap limit${control.code === 0 ? '' : `: ${control.stderr.slice(-2000)}`}`)
  const measured = JSON.parse(control.stdout.trim().split('\n').pop() ?? '{}') as { events?: number; parsedMb?: number }
  const parsedMb = measured.parsedMb ?? 0
  t.ok(parsedMb > HEAP_MB, `the parsed body alone takes ${parsedMb.toFixed(1)} MB of heap, more than the ${HEAP_MB} MB budget`)
  const bodyBytes = sim.requests[0]?.bytes ?? 0
  t.ok(bodyBytes > 35 * MB, `the body is ${Math.round(bodyBytes / MB)} MB`)

  // Committed: the cursor is the end of the window the receiver asked for.
  const asked = (): string[] => (sim.requests[1]?.query.interval ?? '/').split('/')
  const committed = (): boolean => {
    try {
      return sim.requests.length > 1 && readState(stateDir).cursor === new Date(asked()[1] ?? '').toISOString()
    } catch {
      return false
    }
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    PROOFPOINT_BASE_URL: sim.url,
    PROOFPOINT_PRINCIPAL: 'p',
    PROOFPOINT_SECRET: secret,
    RECEIVER_STATE_DIR: stateDir,
    RECEIVER_START_LOOKBACK: '1h',
    RECEIVER_HTTP_HOST: '127.0.0.1',
    RECEIVER_HTTP_PORT: '0',
    RECEIVER_LOG_LEVEL: 'warn',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
  }
  const started = Date.now()
  const run = await runChild([`--max-old-space-size=${HEAP_MB}`, '--trace-gc', MAIN, 'run'], env, committed)
  t.comment(`receiver: ${Date.now() - started} ms for the window`)
  // The receiver's own peak, from its GC trace: within the budget and well below what the whole body takes parsed.
  const peak = peakHeapMb(run.stdout)
  t.ok(peak !== undefined, 'the GC trace of the receiver was read')
  t.ok((peak ?? Infinity) < parsedMb, `the receiver's heap peaked at ${String(peak)} MB, less than the ${parsedMb.toFixed(1)} MB the parsed body alone needs`)
  const [from = '', to = ''] = asked()
  const expected = expectedUids(sim, Date.parse(from), Date.parse(to))
  t.equal(run.code, 0, `the receiver ran and stopped cleanly${run.code === 0 ? '' : `: ${run.stderr.slice(-2000)}`}`)
  t.ok(committed(), 'the window was committed')
  t.ok(Date.parse(to) - Date.parse(from) >= 59 * MIN, 'the receiver asked for (about) the same hour')
  t.ok(expected.size > 20_000, `${expected.size} events`)
  const got = new Set(sink.records.map((r) => String(r.attributes['log.record.uid'])))
  t.equal(sink.records.length, expected.size, 'every event once')
  t.equal(got.size, expected.size)
  t.ok([...expected.keys()].every((k) => got.has(k)), 'the same events')
  t.ok(sink.requests.length > 20, `exported in ${sink.requests.length} requests while streaming`)
})

t.test('a failure in the middle of a streamed window: nothing lost, nothing sent twice', async (t) => {
  const r = await rig(t, 'http/protobuf', {}, 60) // ~3,500 events in the first hour: seven batches
  // One record the collector refuses for good (the 200th it sees): narrowed down to it, counted, not retried.
  let seen = 0
  let poison: string | undefined
  r.sink.refuseRecords((x) => (poison ??= ++seen === 200 ? String(x.attributes['log.record.uid']) : undefined) === String(x.attributes['log.record.uid']))
  r.sink.acceptNext(2)
  r.sink.failNext(12, 503) // transient, in the middle of the window, past the exporter's own retries: the window is retried
  const app = await r.startApp()
  r.time.advanceTo(T0 + 2 * MIN) // room for the backoff after the failure, and two more polls
  await r.time.idle()
  const status = app.status.snapshot(r.time.clock())
  t.equal(status.cursor, '2026-11-24T12:02:00.000Z', 'committed once every batch was acknowledged')
  const expected = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(status.cursor ?? ''))
  const refused = status.totals.rejected
  t.equal(refused, 1, 'the record the collector refuses, alone')
  const got = r.sink.records.map((x) => String(x.attributes['log.record.uid']))
  const delivered = new Set(got)
  // Only a batch the sink accepted after the exporter's deadline may arrive twice (see CutOff).
  const cutOff = await r.cutOff()
  t.ok(cutOff.requests >= 0, `the receiver counts no acknowledgement the collector did not send (${cutOff.requests} cut off)`)
  const twice = got.length - delivered.size
  if (cutOff.requests === 0) t.equal(twice, 0, 'no record delivered twice, though the window was fetched again')
  else t.ok(twice <= cutOff.records, `${twice} records delivered twice, no more than the ${cutOff.requests} request(s) answered after the exporter's deadline carried`)
  t.equal(delivered.size + refused, expected.size, 'delivered + refused = every event')
  t.ok([...delivered].every((k) => expected.has(k)), 'only events of the API')
  const firstWindow = r.sim.requests.filter((q) => q.query.interval === '2026-11-24T11:01:00Z/2026-11-24T12:00:00Z').length
  t.ok(firstWindow >= 2, `the window was fetched again after the failure (${firstWindow} times)`)
  t.equal(status.totals.exported, delivered.size)
})

t.test('the parser hands over events in batches without keeping them', async (t) => {
  const { SiemBodyParser } = await import('../../src/siem/response-parser.js')
  const parser = new SiemBodyParser()
  const body = Buffer.from(readFileSync(fileURLToPath(new URL('../../../test/fixtures/siem-all-response.json', import.meta.url))))
  let handed = 0
  for (let i = 0; i < body.length; i += 97) {
    parser.write(body.subarray(i, i + 97))
    if (parser.pending >= 2) {
      const batch = parser.drain()
      handed += EVENT_TYPES.reduce((n, k) => n + batch.events[k].length, 0)
    }
    t.ok(parser.pending < 3, 'never more than a batch buffered')
  }
  const rest = parser.end()
  handed += EVENT_TYPES.reduce((n, k) => n + rest.events[k].length, 0)
  const whole = JSON.parse(body.toString('utf8')) as Record<string, unknown[]>
  t.equal(handed, EVENT_TYPES.reduce((n, k) => n + (whole[k]?.length ?? 0), 0), 'every event handed over exactly once')
})
