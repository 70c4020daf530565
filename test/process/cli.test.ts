/**
 * The command line as users run it: the compiled binary in a child process, real ports, real files.
 */
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { request } from 'undici'
import { EVENT_TYPES } from '../../src/siem/types.js'
import { startSimulator } from '../../src/simulator/index.js'
import { MAIN, cleanEnv, runReceiver } from '../helpers/child.js'
import { startOtlpSink } from '../helpers/otlp-sink.js'

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/siem-all-response.json', import.meta.url))
const SECRET = 'cli-s3cr3t-DISTINCTIVE-9f8e7d'

const run = runReceiver

const VALID = { PROOFPOINT_PRINCIPAL: 'svc-principal', PROOFPOINT_SECRET: SECRET, RECEIVER_STATE_DIR: '/tmp/unused-by-check-config' }

t.test('invalid configuration: exit 78, the setting named, the secret never printed', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['missing principal', { PROOFPOINT_SECRET: SECRET }, /PROOFPOINT_PRINCIPAL/],
    ['missing secret', { PROOFPOINT_PRINCIPAL: 'p' }, /PROOFPOINT_SECRET/],
    ['bad duration', { ...VALID, RECEIVER_POLL_INTERVAL: '5 minutes' }, /RECEIVER_POLL_INTERVAL/],
    ['poll interval under the API minimum', { ...VALID, RECEIVER_POLL_INTERVAL: '10s' }, /RECEIVER_POLL_INTERVAL/],
    ['lookback beyond 7 days', { ...VALID, RECEIVER_START_LOOKBACK: '8d' }, /RECEIVER_START_LOOKBACK/],
    ['plain http to a remote host', { ...VALID, PROOFPOINT_BASE_URL: 'http://tap.example.com' }, /PROOFPOINT_BASE_URL/],
    ['bad port', { ...VALID, RECEIVER_HTTP_PORT: '70000' }, /RECEIVER_HTTP_PORT/],
    ['bad event type', { ...VALID, PROOFPOINT_EVENT_TYPES: 'messagesDelivered,phoneCalls' }, /PROOFPOINT_EVENT_TYPES/],
    ['bad log level', { ...VALID, RECEIVER_LOG_LEVEL: 'loud' }, /RECEIVER_LOG_LEVEL/],
    ['bad attribute shape', { ...VALID, RECEIVER_ATTRIBUTE_SHAPE: 'deep' }, /RECEIVER_ATTRIBUTE_SHAPE/],
    ['unknown OTLP protocol', { ...VALID, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc/json' }, /OTEL_EXPORTER_OTLP_PROTOCOL/],
    ['gRPC endpoint with a path', { ...VALID, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317/v1/logs' }, /OTEL_EXPORTER_OTLP_ENDPOINT/],
    ['missing secret file', { PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: '/nonexistent/secret' }, /PROOFPOINT_SECRET_FILE/],
  ]
  for (const [name, env, named] of cases) {
    const r = await run(['run'], env)
    t.equal(r.code, 78, `${name}: exit 78`)
    t.match(r.stderr, named, `${name}: names the setting`)
    t.notMatch(r.stdout + r.stderr, SECRET, `${name}: no secret`)
  }
  const several = await run(['run'], { ...VALID, RECEIVER_POLL_INTERVAL: 'x', RECEIVER_BODY: 'xml' })
  t.match(several.stderr, /RECEIVER_POLL_INTERVAL[\s\S]*RECEIVER_BODY|RECEIVER_BODY[\s\S]*RECEIVER_POLL_INTERVAL/, 'every problem at once')
})

t.test('an unusable state directory stops the start with exit 78 and says where', async (t) => {
  const dir = t.testdir({ 'not-a-dir': 'a file' })
  const r = await run(['run'], { ...VALID, RECEIVER_STATE_DIR: join(dir, 'not-a-dir'), RECEIVER_HTTP_PORT: '0' })
  t.equal(r.code, 78)
  t.match(r.stderr, /RECEIVER_STATE_DIR/)
  t.notMatch(r.stderr, SECRET)
})

t.test('check-config prints the effective configuration with sources, secret redacted', async (t) => {
  const dir = t.testdir({ 'receiver.yaml': 'RECEIVER_POLL_INTERVAL: 2m\nPROOFPOINT_EVENT_TYPES: clicksPermitted\n' })
  const ok = await run(['check-config', '--offline', '--config', join(dir, 'receiver.yaml')], { ...VALID, RECEIVER_POLL_INTERVAL: '90s' })
  t.equal(ok.code, 0)
  t.match(ok.stdout, /RECEIVER_POLL_INTERVAL\s+90s\s+\(env\)/, 'environment wins over the file')
  t.match(ok.stdout, /PROOFPOINT_EVENT_TYPES\s+clicksPermitted\s+\(file\)/)
  t.match(ok.stdout, /RECEIVER_NO_EVENTS_ALERT_AFTER\s+\S+\s+\(default\)/)
  t.match(ok.stdout, /PROOFPOINT_SECRET\s+\[redacted\]/)
  t.notMatch(ok.stdout + ok.stderr, SECRET)
  const bad = await run(['check-config'], { ...VALID, RECEIVER_BODY: 'xml' })
  t.equal(bad.code, 1)
  t.match(bad.stderr, /RECEIVER_BODY/)
})

t.test('map turns a saved response into OTLP/JSON, from a file or stdin', async (t) => {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown[]>
  const events = EVENT_TYPES.reduce((n, k) => n + (fixture[k]?.length ?? 0), 0)
  for (const args of [['map', FIXTURE], ['map', '-']]) {
    const r = await run(args, {}, args[1] === '-' ? readFileSync(FIXTURE, 'utf8') : undefined)
    t.equal(r.code, 0, args.join(' '))
    const otlp = JSON.parse(r.stdout) as {
      resourceLogs: Array<{ scopeLogs: Array<{ scope: { name: string }; logRecords: Array<{ eventName?: string; attributes: Array<{ key: string }> }> }> }>
    }
    const records = otlp.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords))
    t.equal(records.length, events, 'one record per event')
    t.equal(otlp.resourceLogs[0]?.scopeLogs[0]?.scope.name, 'proofpoint-siem-receiver')
    t.ok(records.every((rec) => rec.attributes.some((a) => a.key === 'log.record.uid')))
    t.match(r.stderr, new RegExp(`${events} records`))
  }
  const garbage = await run(['map', '-'], {}, 'Nov 24 12:00:00 tap-api: not json')
  t.equal(garbage.code, 1)
  t.match(garbage.stderr, /not a SIEM API JSON response/)
  const missing = await run(['map', '/nonexistent.json'], {})
  t.equal(missing.code, 1)
  t.match(missing.stderr, /cannot read/)
})

t.test('usage: --help, --version, unknown command', async (t) => {
  const help = await run(['--help'], {})
  t.equal(help.code, 0)
  t.match(help.stdout, /check-config/)
  const version = await run(['--version'], {})
  t.match(version.stdout, /^\d+\.\d+\.\d+/)
  const unknown = await run(['frobnicate'], {})
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command/)
})

/** Starts the binary and resolves once a stderr line matches; the caller signals and awaits `exit`. */
function start(args: string[], env: Record<string, string>, ready: RegExp) {
  const child = spawn(process.execPath, [MAIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  const exit = new Promise<{ code: number | null; ms: number }>((resolve) => {
    let signalledAt = 0
    child.on('close', (code) => resolve({ code, ms: Date.now() - signalledAt }))
    child.kill = ((orig) => (sig?: NodeJS.Signals | number) => {
      signalledAt = Date.now()
      return orig(sig)
    })(child.kill.bind(child))
  })
  const matched = new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${String(ready)} in time; stderr:\n${stderr}`)), 20_000)
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      const m = stderr.match(ready)
      if (m) {
        clearTimeout(timer)
        resolve(m)
      }
    })
  })
  return { child, exit, matched, out: () => ({ stdout, stderr }) }
}

t.test('run: polls, exports, answers probes on a real port, and stops on SIGTERM with exit 0', async (t) => {
  const sim = await startSimulator({ principal: 'svc-principal', secret: SECRET, eventsPerMinute: 4 })
  const sink = await startOtlpSink()
  t.teardown(async () => {
    await sim.close()
    await sink.close()
  })
  const stateDir = t.testdir()
  const p = start(
    ['run'],
    {
      PROOFPOINT_BASE_URL: sim.url,
      PROOFPOINT_PRINCIPAL: 'svc-principal',
      PROOFPOINT_SECRET: SECRET,
      RECEIVER_STATE_DIR: stateDir,
      RECEIVER_START_LOOKBACK: '30m',
      RECEIVER_HTTP_HOST: '127.0.0.1',
      RECEIVER_HTTP_PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    },
    /"address":"(http:\/\/127\.0\.0\.1:\d+)"/,
  )
  const [, ops] = await p.matched
  // The first window covers the 30 minutes before the last whole minute; the state file is written before the
  // request (the request budget) and again once the window is acknowledged.
  const committed = (): { cursor: string } | undefined => {
    try {
      const s = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { cursor: string }
      return sim.requests.length > 0 && s.cursor === `${sim.requests[0]?.query.interval?.split('/')[1]?.replace('Z', '.000Z')}` ? s : undefined
    } catch {
      return undefined
    }
  }
  for (let i = 0; i < 200 && !committed(); i++) await new Promise((r) => setTimeout(r, 50))
  const state = committed() ?? { cursor: 'not committed' }
  const [from = '', to = ''] = (sim.requests[0]?.query.interval ?? '').split('/')
  t.equal(new Date(to).toISOString(), state.cursor, 'the cursor is the end of the window asked for')
  const expected = sim.eventsIn({ start: new Date(from), end: new Date(to) })
  const count = EVENT_TYPES.reduce((n, k) => n + expected[k].length, 0)
  await sink.waitFor(count, 10_000)
  t.equal(sink.records.length, count, 'the window’s events were exported')

  const health = await request(`${ops}/healthz`)
  t.equal(health.statusCode, 200)
  t.same(await health.body.json(), { status: 'ok' })
  const ready = await request(`${ops}/readyz`)
  t.equal(ready.statusCode, 200)
  await ready.body.dump()
  const status = await request(`${ops}/status`)
  const statusText = await status.body.text()
  const snapshot = JSON.parse(statusText) as { cursor: string; totals: { exported: number }; noEvents: { alerting: boolean } }
  t.equal(snapshot.cursor, state.cursor)
  t.equal(snapshot.totals.exported, count)
  t.equal(snapshot.noEvents.alerting, false)
  t.notMatch(statusText, SECRET, 'no secret in /status')

  // Prometheus: the exported counters add up to what the collector received.
  const metricsRes = await request(`${ops}/metrics`)
  t.match(metricsRes.headers['content-type'], /text\/plain/)
  const metricsText = await metricsRes.body.text()
  const samples = metricsText
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(l))
  t.ok(samples.every(Boolean), 'every sample line parses')
  const sum = (name: string): number => samples.filter((m) => m?.[1] === name).reduce((n, m) => n + Number(m?.[3]), 0)
  t.equal(sum('proofpoint_receiver_events_exported_total'), sink.records.length, 'exported total = records the collector got')
  t.equal(sum('proofpoint_receiver_events_received_total'), count)
  t.ok(sum('proofpoint_receiver_api_requests_total') >= 1)
  t.equal(sum('proofpoint_receiver_no_events_alert'), 0)
  t.ok(
    samples.every((m) => /^(proofpoint_receiver_|process_|nodejs_)/.test(m?.[1] ?? '')),
    'the receiver\'s metrics are prefixed; process and Node.js metrics keep their standard names',
  )
  t.ok(sum('process_cpu_seconds_total') > 0, 'process_cpu_seconds_total under its standard name')
  t.ok(samples.some((m) => m?.[1] === 'nodejs_heap_size_used_bytes'), 'nodejs_heap_size_used_bytes under its standard name')
  // Bytes: read after the scrape, so what the simulator sent and the sink received can only be more.
  const apiBytes = sum('proofpoint_receiver_api_bytes_total')
  const exportBytes = sum('proofpoint_receiver_export_bytes_total')
  t.ok(apiBytes > 0, `SIEM API body bytes counted (${apiBytes})`)
  t.ok(apiBytes <= sim.requests.reduce((n, r) => n + r.bytes, 0), 'no more than the simulator sent')
  t.ok(exportBytes > 0, `OTLP bytes counted (${exportBytes})`)
  t.ok(exportBytes <= sink.requests.reduce((n, r) => n + r.wireBytes, 0), 'no more than the collector received')
  const page = await request(`${ops}/`)
  const pageText = await page.body.text()
  t.match(pageText, /<html/)
  for (const [what, text] of [['/metrics', metricsText], ['/', pageText]]) t.notMatch(text, SECRET, `no secret in ${what}`)

  p.child.kill('SIGTERM')
  const { code, ms } = await p.exit
  t.equal(code, 0, 'exit 0 on SIGTERM')
  t.ok(ms < 10_000, `stopped in ${ms} ms`)
  t.notMatch(p.out().stderr, SECRET, 'no secret in the logs')
  t.match(p.out().stderr, /"msg":"window done"/)
  const after = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { cursor: string }
  // A minute boundary may have passed meanwhile: the cursor never goes back, and the file is whole.
  t.ok(Date.parse(after.cursor) >= Date.parse(state.cursor), 'the cursor file is intact and monotonic')
})

t.test('demo: prints records from the built-in simulator without credentials, stops on SIGINT', async (t) => {
  const p = start(['demo'], { RECEIVER_HTTP_HOST: '127.0.0.1', RECEIVER_HTTP_PORT: '0' }, /Ctrl-C stops/)
  await p.matched
  // A window's records come type by type (delivered messages first, as the API lists them): wait for the window,
  // not for a number of lines, which a busy tenant fills with one type.
  const typesOf = (lines: string[]): Set<string | undefined> => new Set(lines.map((l) => /proofpoint\.(message|click)\.\w+/.exec(l)?.[0]))
  for (let i = 0; i < 400 && typesOf(p.out().stdout.trim().split('\n')).size < 3; i++) await new Promise((r) => setTimeout(r, 50))
  const lines = p.out().stdout.trim().split('\n')
  t.ok(lines.length >= 10, `records printed (${lines.length})`)
  t.match(lines[0], /^\d{4}-\d\d-\d\dT\S+Z (WARN|INFO|ERROR)\s+proofpoint\.(message|click)\.\w+ /)
  const types = typesOf(lines)
  t.ok(types.size >= 3, `several event types (${[...types].join(', ')})`)
  p.child.kill('SIGINT')
  t.equal((await p.exit).code, 0)
})

t.test('a configuration file that does not parse names the file, not its contents', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'bad.json')
  writeFileSync(file, `{"PROOFPOINT_SECRET": "${SECRET}", oops}`)
  const r = await run(['run', '--config', file], {})
  t.equal(r.code, 78)
  t.match(r.stderr, /bad\.json/)
  t.notMatch(r.stderr, SECRET)
})

