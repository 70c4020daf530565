/**
 * `check-config` as users run it: the compiled binary in a child process, against the SIEM API simulator and a
 * real OTLP/HTTP receiver on 127.0.0.1.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { status as grpcStatus } from '@grpc/grpc-js'
import t, { type Test } from 'tap'
import { nodeFlags } from '../../src/node-flags.js'
import { startSimulator } from '../../src/simulator/index.js'
import type { SiemSimulator } from '../../src/simulator/index.js'
import { runReceiver } from '../helpers/child.js'
import type { Run } from '../helpers/child.js'
import { startGrpcSink } from '../helpers/otlp-grpc-sink.js'
import { startOtlpSink } from '../helpers/otlp-sink.js'
import type { OtlpSink } from '../helpers/otlp-sink.js'

const PRINCIPAL = 'svc-check-principal'
const SECRET = 'chk-s3cr3t-DISTINCTIVE-5a4b3c'
const WRONG_SECRET = 'wr0ng-s3cr3t-DISTINCTIVE-0d1e2f'
const HEADER_TOKEN = 'hdr-t0ken-DISTINCTIVE-77aa'
const MINUTE = 60_000

function run(args: string[], env: Record<string, string>): Promise<Run> {
  return runReceiver(args, env)
}

/** No secret (nor its Basic form) in anything the command printed. */
function noSecrets(t: Test, r: Run, what: string): void {
  const out = r.stdout + r.stderr
  for (const s of [SECRET, WRONG_SECRET, HEADER_TOKEN]) {
    t.notOk(out.includes(s), `${what}: ${s.slice(0, 6)}… not printed`)
    t.notOk(out.includes(Buffer.from(`${PRINCIPAL}:${s}`).toString('base64')), `${what}: no Basic credentials`)
  }
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
    RECEIVER_STATE_DIR: join(t.testdir(), 'state'),
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${HEADER_TOKEN}`,
    OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
  }
  return { sim, sink, env }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

t.test('both checks pass: exit 0, one SIEM request for the last whole minute, one empty OTLP request', async (t) => {
  const { sim, sink, env } = await rig(t)
  const before = Date.now()
  const r = await run(['check-config'], env)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /PROOFPOINT_SECRET\s+\[redacted\]\s+\(env\)/, 'the configuration is printed first')
  t.match(r.stdout, /configuration is valid/)
  t.match(
    r.stdout,
    /^request plan: 1440 polls \+ 144 late-event sweeps \(every span read again at 10m and 35m, 20m at a time\) = 1584 SIEM API requests per 24 h when caught up, of the 1620 polling may use \(PROOFPOINT_REQUEST_BUDGET=1800\)$/m,
    'what the defaults ask of the API',
  )
  t.match(r.stdout, /^SIEM API: credentials accepted \(HTTP 20[04], \d+ events? in the last minute\); used 1 of the 1800 SIEM API requests/m)
  t.match(r.stdout, new RegExp(`^OTLP endpoint: answered 200 to an empty export request \\(${sink.logsUrl.replace(/[./]/g, '\\$&')}, http/protobuf\\)`, 'm'))
  t.equal(r.stderr, '')
  noSecrets(t, r, 'ok')

  t.equal(sim.requests.length, 1, 'exactly one SIEM API request')
  const q = sim.requests[0]
  t.ok(q?.authorized)
  const [start, end] = (q?.query.interval ?? '').split('/').map((s) => Date.parse(s))
  t.equal((end ?? 0) - (start ?? 0), MINUTE, 'a one-minute window')
  t.equal((end ?? 1) % MINUTE, 0, 'ending on a whole minute')
  t.ok((end ?? 0) <= Date.now() && (end ?? 0) > before - 2 * MINUTE, 'the last whole minute')
  const events = q?.events ?? -1
  t.match(r.stdout, new RegExp(`${events} events? in the last minute`), 'the event count is what the API sent')

  t.equal(sink.requests.length, 1, 'exactly one OTLP request')
  const o = sink.requests[0]
  t.equal(o?.method, 'POST')
  t.equal(o?.path, '/v1/logs')
  t.equal(o?.contentType, 'application/x-protobuf')
  t.equal(o?.contentLength, 0, 'an empty ExportLogsServiceRequest is zero bytes')
  t.equal(o?.headers.authorization, `Bearer ${HEADER_TOKEN}`, 'the configured headers are sent')
  t.equal(sink.records.length, 0, 'nothing was stored')
})

t.test('http/json sends {"resourceLogs":[]}; a secret file works too', async (t) => {
  const { sim, sink, env } = await rig(t)
  const dir = t.testdir({ secret: `${SECRET}\n` })
  const { PROOFPOINT_SECRET: _unused, ...rest } = env
  const r = await run(['check-config'], { ...rest, PROOFPOINT_SECRET_FILE: join(dir, 'secret'), OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/json' })
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /SIEM API: credentials accepted/)
  t.match(r.stdout, /OTLP endpoint: answered 200 .*http\/json/)
  t.equal(sim.requests.length, 1)
  t.equal(sink.requests[0]?.contentType, 'application/json')
  t.equal(sink.requests[0]?.contentLength, Buffer.byteLength('{"resourceLogs":[]}'))
  noSecrets(t, r, 'secret file')
})

t.test('wrong secret: exit 1, the message names the principal, not the secret', async (t) => {
  const { sim, sink, env } = await rig(t)
  const r = await run(['check-config'], { ...env, PROOFPOINT_SECRET: WRONG_SECRET })
  t.equal(r.code, 1)
  t.match(r.stdout, new RegExp(`^SIEM API: FAILED: SIEM API refused the credentials of service principal "${PRINCIPAL}" \\(401\\).*PROOFPOINT_SECRET`, 'm'))
  t.match(r.stdout, /^OTLP endpoint: answered 200/m, 'the other check still runs')
  t.match(r.stderr, /1 of 3 checks failed/)
  t.equal(sim.requests.length, 1)
  t.equal(sim.requests[0]?.authorized, false)
  t.equal(sink.requests.length, 1)
  noSecrets(t, r, 'wrong secret')
})

t.test('collector down (closed port): exit 1 with what went wrong', async (t) => {
  const { env } = await rig(t)
  const port = await closedPort()
  const r = await run(['check-config'], { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` })
  t.equal(r.code, 1)
  t.match(r.stdout, /^SIEM API: credentials accepted/m)
  t.match(r.stdout, new RegExp(`^OTLP endpoint: FAILED: collector at http://127\\.0\\.0\\.1:${port}/v1/logs refused the connection; is the OpenTelemetry Collector`, 'm'))
  t.notMatch(r.stdout, /will retry/, 'a check does not promise retries')
  t.match(r.stderr, /1 of 3 checks failed/)
  noSecrets(t, r, 'collector down')
})

t.test('the collector refuses the credentials: exit 1, the header named, its value not printed', async (t) => {
  const { sink, env } = await rig(t)
  sink.failNext(1, 401)
  const r = await run(['check-config'], env)
  t.equal(r.code, 1)
  t.match(r.stdout, /^OTLP endpoint: FAILED: collector at .* rejected the export \(401\).*OTEL_EXPORTER_OTLP_HEADERS/m)
  t.equal(sink.requests.length, 1, 'asked once')
  noSecrets(t, r, 'collector 401')
})

t.test('SIEM API unreachable: exit 1 with the network error', async (t) => {
  const { sink, env } = await rig(t)
  const port = await closedPort()
  const r = await run(['check-config'], { ...env, PROOFPOINT_BASE_URL: `http://127.0.0.1:${port}` })
  t.equal(r.code, 1)
  t.match(r.stdout, /^SIEM API: FAILED: request to http:\/\/127\.0\.0\.1:\d+ failed: ECONNREFUSED.*PROOFPOINT_BASE_URL/m)
  t.equal(sink.requests.length, 1)
  noSecrets(t, r, 'SIEM API down')
})

t.test('--offline: no request at all, exit 0', async (t) => {
  const { sim, sink, env } = await rig(t)
  const r = await run(['check-config', '--offline'], env)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /configuration is valid/)
  t.match(r.stdout, /offline: the SIEM API credentials and the OTLP endpoint were not tried/)
  const wide = await run(['check-config', '--offline'], { ...env, RECEIVER_POLL_INTERVAL: '90s', PROOFPOINT_REQUEST_BUDGET: '1100', RECEIVER_OVERLAP: '0s' })
  t.match(wide.stdout, /^request plan: 960 polls and no late-event sweeps \(RECEIVER_OVERLAP=0s\) = 960 SIEM API requests per 24 h when caught up, of the 990 polling may use/m)
  const tight = await run(['check-config', '--offline'], { ...env, RECEIVER_POLL_INTERVAL: '90s', PROOFPOINT_REQUEST_BUDGET: '1200' })
  t.match(tight.stdout, /^request plan: 960 polls \+ 120 late-event sweeps \(every span read again at 10m and 35m, 24m at a time\) = 1080 SIEM API requests per 24 h when caught up, of the 1080 polling may use/m, 'spans widen to fit the budget')
  t.notMatch(r.stdout, /^(SIEM API|OTLP endpoint):/m)
  t.equal(sim.requests.length, 0, 'no SIEM API request')
  t.equal(sink.requests.length, 0, 'no OTLP request')
  noSecrets(t, r, 'offline')

  // The threads, and the node options the launch gives them (the image and npm start).
  for (const [workers, threads] of [['2', /in 2 worker threads \(RECEIVER_WORKERS\)/], ['0', /in the main thread \(RECEIVER_WORKERS\)/]] as const) {
    const w = await run(['check-config', '--offline'], { ...env, RECEIVER_WORKERS: workers })
    t.match(w.stdout, new RegExp(`^events are parsed, mapped and encoded ${threads.source}$`, 'm'), `RECEIVER_WORKERS=${workers}: the threads`)
    const flags = nodeFlags(process.version, Number(workers)).join(' ') || 'none'
    t.ok(w.stdout.split('\n').includes(`node options for that on this Node (${process.version}): ${flags} (the image and npm start choose them; \`node dist/src/node-flags.js run\` prints them)`), `RECEIVER_WORKERS=${workers}: ${flags}`)
  }

  const down = await run(['check-config', '--offline'], { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}` })
  t.equal(down.code, 0, 'offline does not care whether anything is up')
})

t.test('invalid configuration: exit 1 before any request', async (t) => {
  const { sim, sink, env } = await rig(t)
  const dir = t.testdir()
  writeFileSync(join(dir, 'bad.yaml'), 'RECEIVER_BODY: xml\n')
  const r = await run(['check-config', '--config', join(dir, 'bad.yaml')], env)
  t.equal(r.code, 1)
  t.match(r.stderr, /RECEIVER_BODY/)
  t.equal(sim.requests.length, 0)
  t.equal(sink.requests.length, 0)
  noSecrets(t, r, 'invalid')
})

t.test('a secret that also appears in other output: redacted by field, the rest printed as is', async (t) => {
  const { env } = await rig(t)
  // Side by side: each run is a process start, and the file stays within tap's timeout.
  const secrets = ['1m', 'json', 'unset', '1800', 's']
  const runs = await Promise.all(
    secrets.map(async (secret) => {
      // A path with the secret as one of its names: printed as it is.
      const stateDir = join(t.testdir(), `dir-${secrets.indexOf(secret)}`, secret, 'state')
      return { secret, stateDir, r: await run(['check-config', '--offline'], { ...env, PROOFPOINT_SECRET: secret, RECEIVER_STATE_DIR: stateDir }) }
    }),
  )
  for (const { secret, stateDir, r } of runs) {
    const what = `secret ${JSON.stringify(secret)}`
    t.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`)
    t.ok(r.stdout.split('\n').some((l) => /^RECEIVER_STATE_DIR\s/.test(l) && l.includes(stateDir)), `${what}: the state directory row shows the path`)
    t.match(r.stdout, /^PROOFPOINT_SECRET\s+\[redacted\]\s+\(env\)$/im, `${what}: the secret's row shows [redacted]`)
    t.notMatch(r.stdout, /\[REDACTED\]/, `${what}: nothing else is redacted: the printed text is not searched for the secret`)
    t.match(r.stdout, /^RECEIVER_POLL_INTERVAL\s+1m\s+\(default\)$/m, what)
    t.match(r.stdout, /^RECEIVER_BODY\s+json\s+\(default\)$/m, what)
    t.match(r.stdout, /^PROOFPOINT_REQUEST_BUDGET\s+1800\s+\(default\)$/m, what)
    t.match(r.stdout, /^PROOFPOINT_THREAT_STATUS\s+\(unset\)\s+\(default\)$/m, what)
    t.match(r.stdout, /offline: the SIEM API credentials and the OTLP endpoint were not tried/, what)
  }
})

t.test('a secret that is also a word of the checks\' own lines: the lines are printed as is', async (t) => {
  const secret = '1800'
  const sim = await startSimulator({ principal: PRINCIPAL, secret, eventsPerMinute: 60 })
  t.teardown(() => sim.close())
  const { env } = await rig(t)
  const r = await run(['check-config'], { ...env, PROOFPOINT_BASE_URL: sim.url, PROOFPOINT_SECRET: secret })
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /^SIEM API: credentials accepted \(HTTP 20[04], \d+ events? in the last minute\); used 1 of the 1800 SIEM API requests/m)
  t.notMatch(r.stdout, /\[REDACTED\]/)
})

t.test('no request sent (connection refused): the budget is not said to be used; a refused secret was a request', async (t) => {
  const { env } = await rig(t)
  const port = await closedPort()
  const r = await run(['check-config'], { ...env, PROOFPOINT_BASE_URL: `http://127.0.0.1:${port}` })
  t.equal(r.code, 1)
  t.match(r.stdout, /^SIEM API: FAILED: request to .* ECONNREFUSED.*; no request reached the SIEM API: none of the 1800 requests allowed per 24 h \(PROOFPOINT_REQUEST_BUDGET\) was used$/m)
  t.notMatch(r.stdout, /used 1 of/)

  const refused = await run(['check-config'], { ...env, PROOFPOINT_SECRET: WRONG_SECRET })
  t.equal(refused.code, 1)
  t.match(refused.stdout, /^SIEM API: FAILED: SIEM API refused the credentials.*; used 1 of the 1800 SIEM API requests allowed per 24 h/m)
})

/** Listens on 127.0.0.1 until the test ends; resolves with the port. */
async function listenLoopback(t: Test, server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as AddressInfo).port
}

const QUERY_KEY = 'qry-k3y-DISTINCTIVE-88bb'

for (const status of [400, 503]) {
  t.test(`a collector that echoes the request headers in a ${status}: quoted, without the header value or the query key`, async (t) => {
    const { env } = await rig(t)
    let requests = 0
    const server = createHttpServer((req, res) => {
      requests++
      // JSON with "/" escaped, as Go's and PHP's encoders write it, and the request line as a proxy would echo it.
      const body = JSON.stringify({ message: 'bad request', url: req.url, headers: req.headers }).replace(/\//g, '\\/')
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body)
    })
    const port = await listenLoopback(t, server)
    const r = await run(['check-config'], {
      ...env,
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: `http://127.0.0.1:${port}/v1/logs?api_key=${QUERY_KEY}`,
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${HEADER_TOKEN}/x`,
    })
    t.equal(r.code, 1)
    t.match(r.stdout, new RegExp(`^OTLP endpoint: FAILED: collector at .* ${status === 400 ? 'rejected the export \\(400\\)' : 'answered 503'}: ".*bad request.*Bearer \\[REDACTED\\]`, 'm'))
    noSecrets(t, r, `collector ${status}`)
    t.equal(requests, 1, 'a check asks once: no retries (not even for a retryable 503)')
    const out = r.stdout + r.stderr
    t.notOk(out.includes(QUERY_KEY), 'the query value is not printed (not even in the configuration)')
    t.notOk(out.replace(/\\\//g, '/').includes(`${HEADER_TOKEN}/x`), 'nor the escaped header value')
  })
}

t.test('an http:// endpoint where a TLS server listens: says to use https://', async (t) => {
  const { env } = await rig(t)
  const fixture = (name: string): string => readFileSync(new URL(`../../../test/fixtures/${name}`, import.meta.url).pathname, 'utf8')
  const server = createHttpsServer({ cert: fixture('tls/server.pem'), key: fixture('tls/server.key') }, (_req, res) => res.end())
  const port = await listenLoopback(t, server)
  const r = await run(['check-config'], { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` })
  t.equal(r.code, 1)
  t.match(r.stdout, /^OTLP endpoint: FAILED: collector at http:\/\/127\.0\.0\.1:\d+\/v1\/logs: the endpoint speaks TLS: use https:\/\/ in OTEL_EXPORTER_OTLP_ENDPOINT/m)
  t.notMatch(r.stdout, /socket hang up/)
  noSecrets(t, r, 'TLS endpoint')
})

t.test('--help documents --offline', async (t) => {
  const r = await run(['--help'], {})
  t.equal(r.code, 0)
  t.match(r.stdout, /--offline/)
})

t.test('OTLP/gRPC: an empty Export call to a real gRPC collector; a status it refuses with is reported', async (t) => {
  const { env } = await rig(t)
  const collector = await startGrpcSink()
  t.teardown(() => collector.close())
  const grpcEnv = { ...env, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url }
  const r = await run(['check-config'], grpcEnv)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /OTEL_EXPORTER_OTLP_PROTOCOL\s+grpc\s+\(env\)/)
  t.match(r.stdout, new RegExp(`^OTLP endpoint: answered OK to an empty export request \\(http://127\\.0\\.0\\.1:${collector.port}/, grpc\\)`, 'm'))
  t.equal(collector.requests.length, 1)
  t.equal(collector.requests[0]?.bytes, 0, 'an empty ExportLogsServiceRequest')
  t.equal(collector.requests[0]?.metadata.authorization, `Bearer ${HEADER_TOKEN}`)

  collector.answerNext({ code: grpcStatus.UNAUTHENTICATED, details: `bad token Bearer ${HEADER_TOKEN}` })
  const refused = await run(['check-config'], grpcEnv)
  t.equal(refused.code, 1)
  t.match(refused.stdout, /^OTLP endpoint: FAILED: collector at http:\/\/127\.0\.0\.1:\d+\/ refused the export \(UNAUTHENTICATED\).*check OTEL_EXPORTER_OTLP_HEADERS/m)
  noSecrets(t, refused, 'grpc refused')
})
