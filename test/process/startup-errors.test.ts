/**
 * Start-up failures an operator fixes in the configuration: the built binary in a child process exits 78 (EX_CONFIG)
 * at once with a message naming the setting, instead of hanging or printing a stack trace.
 */
import { readdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import type { Run } from '../helpers/child.js'
import { runBounded } from '../helpers/child.js'

/** A generous bound on "it exited": a hang fails the test instead of running into tap's timeout. */
const EXIT_BOUND_MS = 20_000

function start(env: Record<string, string>, command: 'run' | 'demo' = 'run'): Promise<Run> {
  return runBounded(
    [command],
    {
      PROOFPOINT_PRINCIPAL: 'svc-startup',
      PROOFPOINT_SECRET: 'startup-s3cr3t-DISTINCTIVE',
      // Nothing is asked of either end: the receiver stops before its first poll.
      PROOFPOINT_BASE_URL: 'http://127.0.0.1:9',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      RECEIVER_HTTP_HOST: '127.0.0.1',
      RECEIVER_HTTP_PORT: '0',
      ...env,
    },
    EXIT_BOUND_MS,
  )
}

/** JSON log lines on stderr whose msg is "could not start". */
function fatal(r: Run): string {
  return r.stderr
    .split('\n')
    .filter((l) => l.includes('could not start'))
    .join('\n')
}

const stateDirs: Array<[string, (dir: string) => string]> = [
  ['a path under /proc (mkdir recursive never settles there)', () => '/proc/nope'],
  ['a deeper path under /proc', () => '/proc/nope/deeper/state'],
  ['a path through a regular file', (dir) => {
    writeFileSync(join(dir, 'file'), 'not a directory')
    return join(dir, 'file', 'state')
  }],
]
for (const [what, path] of stateDirs) {
  t.test(`RECEIVER_STATE_DIR ${what}: exit 78 naming the setting, no hang`, { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
    const dir = path(t.testdir())
    const r = await start({ RECEIVER_STATE_DIR: dir })
    t.equal(r.signal, null, `exited by itself within ${EXIT_BOUND_MS} ms`)
    t.equal(r.code, 78, r.stderr)
    t.match(fatal(r), /RECEIVER_STATE_DIR/)
    t.match(fatal(r), dir)
    t.match(fatal(r), /PSR_ERR_STATE/)
    t.notMatch(r.stderr, /ops server listening/, 'the state directory is checked before the ops port is opened')
  })
}

for (const command of ['run', 'demo'] as const) t.test(`${command}: a busy ops port: exit 78 naming RECEIVER_HTTP_PORT, no stack trace`, async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
  const { port } = blocker.address() as AddressInfo
  const dir = t.testdir({ tmp: {} })
  const r = await start({ RECEIVER_STATE_DIR: join(dir, 'state'), RECEIVER_HTTP_PORT: String(port), TMPDIR: join(dir, 'tmp') }, command)
  if (command === 'demo') t.same(readdirSync(join(dir, 'tmp')), [], 'the demo removed its temporary state directory')
  t.equal(r.signal, null, `exited by itself within ${EXIT_BOUND_MS} ms`)
  t.equal(r.code, 78, r.stderr)
  const line = fatal(r)
  t.match(line, /RECEIVER_HTTP_PORT/, 'names the setting to change')
  t.match(line, new RegExp(`127\\.0\\.0\\.1:${port}`), 'and the address')
  t.match(line, /already in use/)
  t.match(line, /PSR_ERR_CONFIG_INVALID/)
  t.notMatch(r.stderr, /\bat .*\(.*:\d+:\d+\)|"stack":"[^"]/, 'no stack trace')
  t.notMatch(r.stderr, /receiver started/)
})

t.test('an ops host that is not an address of this machine: exit 78 naming RECEIVER_HTTP_HOST', async (t) => {
  // 192.0.2.1 (TEST-NET-1, RFC 5737) is never a local address: listen fails with EADDRNOTAVAIL, no packet is sent.
  const r = await start({ RECEIVER_STATE_DIR: join(t.testdir(), 'state'), RECEIVER_HTTP_HOST: '192.0.2.1' })
  t.equal(r.signal, null, `exited by itself within ${EXIT_BOUND_MS} ms`)
  t.equal(r.code, 78, r.stderr)
  t.match(fatal(r), /RECEIVER_HTTP_HOST/)
  t.notMatch(r.stderr, /"stack":"[^"]/, 'no stack trace')
})
