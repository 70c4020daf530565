/**
 * `check-config` checks the state directory as `run` does at start, and fails with the message `run` refuses to
 * start with: the compiled binary in child processes, against the SIEM API simulator and an OTLP sink on 127.0.0.1.
 * (A file of its own: each case starts three processes.)
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startSimulator } from '../../src/simulator/index.js'
import type { SiemSimulator } from '../../src/simulator/index.js'
import { runReceiver } from '../helpers/child.js'
import type { Run } from '../helpers/child.js'
import { runBounded } from '../helpers/child.js'
import { startOtlpSink } from '../helpers/otlp-sink.js'
import type { OtlpSink } from '../helpers/otlp-sink.js'

const PRINCIPAL = 'svc-check-state'
const SECRET = 'chk-state-s3cr3t-DISTINCTIVE'

function run(args: string[], env: Record<string, string>): Promise<Run> {
  return runReceiver(args, env)
}

async function rig(t: Test): Promise<{ sim: SiemSimulator; sink: OtlpSink; env: Record<string, string> }> {
  const sim = await startSimulator({ principal: PRINCIPAL, secret: SECRET, eventsPerMinute: 60 })
  const sink = await startOtlpSink()
  t.teardown(() => Promise.all([sim.close(), sink.close()]))
  const env = {
    PROOFPOINT_BASE_URL: sim.url,
    PROOFPOINT_PRINCIPAL: PRINCIPAL,
    PROOFPOINT_SECRET: SECRET,
    PROOFPOINT_REQUEST_TIMEOUT: '10s',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
  }
  return { sim, sink, env }
}

/** The message `run` logs when it refuses to start ("could not start"), from its JSON log lines. */
function runRefusal(r: Run): string | undefined {
  for (const line of r.stderr.split('\n')) {
    if (!line.includes('could not start')) continue
    const parsed = JSON.parse(line) as { err?: { message?: string; code?: string } }
    return `${parsed.err?.message ?? ''} [${parsed.err?.code ?? ''}]`
  }
  return undefined
}

const badStates: Array<[string, (dir: string) => string]> = [
  ['state.json is not JSON', (dir) => {
    mkdirSync(join(dir, 'state'))
    writeFileSync(join(dir, 'state', 'state.json'), '{"version":2,"cursor":')
    return join(dir, 'state')
  }],
  ['state.json is not a receiver state', (dir) => {
    mkdirSync(join(dir, 'state'))
    writeFileSync(join(dir, 'state', 'state.json'), JSON.stringify({ version: 2, cursor: 'yesterday', exportedKeys: {} }))
    return join(dir, 'state')
  }],
  ['state.json has a re-ask point after its cursor', (dir) => {
    mkdirSync(join(dir, 'state'))
    const now = Math.floor(Date.now() / 60_000) * 60_000
    const [cursor, reaskFrom] = [now - 3600_000, now].map((ms) => new Date(ms).toISOString())
    writeFileSync(join(dir, 'state', 'state.json'), JSON.stringify({ version: 2, cursor, reaskFrom, exportedKeys: {} }))
    return join(dir, 'state')
  }],
  ['the state directory is a path through a regular file', (dir) => {
    writeFileSync(join(dir, 'file'), 'not a directory')
    return join(dir, 'file', 'state')
  }],
  ['the state directory is under /proc', () => '/proc/nope'],
]
for (const [what, make] of badStates) {
  t.test(`${what}: check-config fails with the message run refuses to start with`, { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
    const { sim, sink, env } = await rig(t)
    const stateDir = make(t.testdir())
    // Side by side (each is a process start): check-config offline and online, and run.
    const [cc, online, started] = await Promise.all([
      run(['check-config', '--offline'], { ...env, RECEIVER_STATE_DIR: stateDir }),
      run(['check-config'], { ...env, RECEIVER_STATE_DIR: stateDir }),
      runBounded(['run'], { ...env, RECEIVER_STATE_DIR: stateDir, RECEIVER_HTTP_HOST: '127.0.0.1', RECEIVER_HTTP_PORT: '0' }, 30_000),
    ])
    t.equal(cc.code, 1, cc.stdout + cc.stderr)
    t.match(cc.stderr, /1 of 1 checks failed/)
    const line = /^state directory: FAILED: (.*)$/m.exec(cc.stdout)?.[1]
    t.ok(line, `a failed state directory line: ${cc.stdout.slice(-600)}`)
    t.equal(online.code, 1, 'online too')
    t.match(online.stderr, /1 of 3 checks failed/)

    t.equal(started.signal, null, 'run exited by itself')
    t.equal(started.code, 78, `run refuses it too: ${started.stderr.slice(-600)}`)
    const refusal = runRefusal(started)
    t.ok(refusal, 'run says why')
    // The clock check names "now": compare with the times taken out.
    const noTimes = (s: string | undefined): string | undefined => s?.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z|\d+ min ahead/g, 'T')
    t.equal(noTimes(line), noTimes(refusal), 'the same message')
    t.equal(sim.requests.length, 1, 'only the online check asked the SIEM API')
    t.equal(sink.requests.length, 1)
  })
}

t.test('a usable state file: its cursor and the requests of the last 24 h are shown; no state file yet is fine', async (t) => {
  const { env } = await rig(t)
  const dir = t.testdir({ state: { 'state.json': JSON.stringify({ version: 2, cursor: '2026-01-02T03:04:00.000Z', exportedKeys: {}, apiRequests: [Date.now() - 60_000, Date.now() - 2 * 24 * 3600_000] }) } })
  const r = await run(['check-config', '--offline'], { ...env, RECEIVER_STATE_DIR: join(dir, 'state') })
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /^state directory: .* is writable; .*state\.json: cursor 2026-01-02T03:04:00\.000Z, 1 SIEM API request in the last 24 h$/m)
  const fresh = await run(['check-config', '--offline'], { ...env, RECEIVER_STATE_DIR: join(dir, 'new', 'state') })
  t.equal(fresh.code, 0, fresh.stdout + fresh.stderr)
  t.match(fresh.stdout, /^state directory: .* is writable; no state file yet/m)
})

t.test("the state file's requests count: at the budget no SIEM API request is made; under it the line says how many are used", async (t) => {
  const { sim, env } = await rig(t)
  const now = Date.now()
  const cursor = new Date(Math.floor(now / 60_000) * 60_000 - 60_000).toISOString()
  const stateOf = (requests: number): Record<string, string> => {
    const apiRequests = Array.from({ length: requests }, (_, i) => now - (i + 1) * 60_000)
    return { 'state.json': JSON.stringify({ version: 2, cursor, exportedKeys: {}, apiRequests }) }
  }
  const dir = t.testdir({ full: stateOf(60), under: stateOf(59) })
  // A budget of 60 fits polls every 6 h (the start-up check); a running receiver's state shows 60 or 59 used.
  const budget = { ...env, PROOFPOINT_REQUEST_BUDGET: '60', RECEIVER_POLL_INTERVAL: '6h' }
  const [full, under] = await Promise.all([
    run(['check-config'], { ...budget, RECEIVER_STATE_DIR: join(dir, 'full') }),
    run(['check-config'], { ...budget, RECEIVER_STATE_DIR: join(dir, 'under') }),
  ])
  t.equal(full.code, 0, full.stdout + full.stderr)
  const oldestOut = new Date(now - 60 * 60_000 + 24 * 3600_000).toISOString()
  t.match(full.stdout, new RegExp(`^SIEM API: not tried: the state file shows 60 requests in the last 24 h, the whole PROOFPOINT_REQUEST_BUDGET \\(60\\); .*Run check-config --offline, or again after ${oldestOut}`, 'm'))
  t.equal(under.code, 0, under.stdout + under.stderr)
  t.match(under.stdout, /^SIEM API: credentials accepted .*; 60 of the 60 SIEM API requests allowed per 24 h \(PROOFPOINT_REQUEST_BUDGET\) are used, counting the 59 in the state file; a running receiver does not count this one$/m)
  t.equal(sim.requests.length, 1, 'only the check under the budget asked the SIEM API')
})

