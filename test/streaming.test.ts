/**
 * Big windows: a response larger than a whole-body parse can hold in a small heap is still processed completely,
 * because the receiver parses, maps and exports it in batches as it arrives. And a failure in the middle of a
 * streamed window loses nothing and sends nothing twice.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { EVENT_TYPES } from '../src/siem/types.js'
import { startSimulator } from '../src/simulator/index.js'
import { H, MIN, T0, expectedUids, readState, rig } from './helpers/e2e-rig.js'
import { startOtlpSink } from './helpers/otlp-sink.js'

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url))
const HEAP_MB = 64

function runChild(args: string[], env: NodeJS.ProcessEnv, until?: () => boolean): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)))
    const timer = setInterval(() => {
      if (until?.()) {
        clearInterval(timer)
        child.kill('SIGTERM')
      }
    }, 100)
    const guard = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('close', (code, signal) => {
      clearInterval(timer)
      clearTimeout(guard)
      resolve({ code, signal, stderr })
    })
  })
}

t.test(`a window bigger than a whole-body parse fits in a ${HEAP_MB} MB heap is processed completely`, async (t) => {
  const secret = 'stream-secret'
  const sim = await startSimulator({ principal: 'p', secret, eventsPerMinute: 400, seed: 3 })
  const sink = await startOtlpSink()
  const stateDir = mkdtempSync(join(tmpdir(), 'psr-stream-'))
  t.teardown(async () => {
    await sim.close()
    await sink.close()
    rmSync(stateDir, { recursive: true, force: true })
  })

  // The control: fetching the same hour whole and calling JSON.parse does not fit in the heap.
  const end = Math.floor(Date.now() / MIN) * MIN
  const interval = `${new Date(end - H).toISOString().replace('.000', '')}/${new Date(end).toISOString().replace('.000', '')}`
  const naive = `const r = await fetch(${JSON.stringify(`${sim.url}/v2/siem/all?format=json&interval=${interval}`)}, { headers: { authorization: 'Basic ' + btoa('p:${secret}') } });
    const body = JSON.parse(await r.text()); console.error('parsed', body.messagesDelivered.length)`
  const control = await runChild([`--max-old-space-size=${HEAP_MB}`, '--input-type=module', '-e', naive], process.env)
  t.not(control.code, 0, `a whole-body parse runs out of memory (exit ${control.code}, ${control.signal})`)
  const bodyBytes = sim.requests[0]?.bytes ?? 0
  t.ok(bodyBytes > 35 * 1024 * 1024, `the body is ${Math.round(bodyBytes / 1024 / 1024)} MB`)

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
  const run = await runChild([`--max-old-space-size=${HEAP_MB}`, MAIN, 'run'], env, committed)
  t.comment(`receiver: ${Date.now() - started} ms for the window`)
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
  r.sink.acceptNext(1)
  r.sink.failNext(1, 400) // refused for good: counted, not retried
  r.sink.acceptNext(1)
  r.sink.failNext(12, 503) // transient, in the middle of the window, past the exporter's own retries: the window is retried
  const app = await r.startApp()
  r.time.advanceTo(T0 + 2 * MIN) // room for the backoff after the failure, and two more polls
  await r.time.idle()
  const status = app.status.snapshot(r.time.clock())
  t.equal(status.cursor, '2026-11-24T12:02:00.000Z', 'committed once every batch was acknowledged')
  const expected = expectedUids(r.sim, Date.parse('2026-11-24T11:01:00Z'), Date.parse(status.cursor ?? ''))
  const refused = status.totals.rejected
  t.ok(refused > 0 && refused <= 512, `one batch refused (${refused})`)
  const got = r.sink.records.map((x) => String(x.attributes['log.record.uid']))
  t.equal(new Set(got).size, got.length, 'no record delivered twice, though the window was fetched again')
  t.equal(got.length + refused, expected.size, 'delivered + refused = every event')
  const firstWindow = r.sim.requests.filter((q) => q.query.interval === '2026-11-24T11:01:00Z/2026-11-24T12:00:00Z').length
  t.ok(firstWindow >= 2, `the window was fetched again after the failure (${firstWindow} times)`)
  t.equal(status.totals.exported, got.length)
})

t.test('the parser hands over events in batches without keeping them', async (t) => {
  const { SiemBodyParser } = await import('../src/siem/response-parser.js')
  const parser = new SiemBodyParser()
  const body = Buffer.from(readFileSync(fileURLToPath(new URL('../../test/fixtures/siem-all-response.json', import.meta.url))))
  let handed = 0
  for (let i = 0; i < body.length; i += 97) {
    parser.write(body.subarray(i, i + 97))
    if (parser.pending >= 2) {
      const batch = parser.drain()
      handed += EVENT_TYPES.reduce((n, k) => n + batch[k].length, 0)
    }
    t.ok(parser.pending < 3, 'never more than a batch buffered')
  }
  const rest = parser.end()
  handed += EVENT_TYPES.reduce((n, k) => n + rest.events[k].length, 0)
  const whole = JSON.parse(body.toString('utf8')) as Record<string, unknown[]>
  t.equal(handed, EVENT_TYPES.reduce((n, k) => n + (whole[k]?.length ?? 0), 0), 'every event handed over exactly once')
})
