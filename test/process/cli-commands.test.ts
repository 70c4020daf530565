/**
 * The commands' argument handling and configuration, run as users run them: the compiled binary in a child
 * process. Every command reads `--config FILE` as `run` does; extra arguments are refused; the demo names where it
 * listens and leaves no temporary state behind; output piped into a reader that goes away (`| head`) ends a command
 * cleanly; a bug nothing caught ends the process with one redacted log line and exit 1.
 */
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { request } from 'undici'
import { mapCommand } from '../../src/cli/map.js'
import { MAIN, cleanEnv, runReceiver } from '../helpers/child.js'

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/siem-all-response.json', import.meta.url))
const run = runReceiver
const VALID = { PROOFPOINT_PRINCIPAL: 'svc-principal', PROOFPOINT_SECRET: 'cli-commands-secret', RECEIVER_STATE_DIR: '/tmp/unused-by-these-tests' }

/** Starts the binary and resolves once a stderr line matches; the caller signals and awaits `exit`. */
function start(args: string[], env: Record<string, string>, ready: RegExp) {
  const child = spawn(process.execPath, [MAIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stdout.resume() // the demo's records: not looked at here
  const exit = new Promise<{ code: number | null }>((resolve) => child.on('close', (code) => resolve({ code })))
  const matched = new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${String(ready)} in time; stderr:\n${stderr}`)), 60_000)
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      const m = stderr.match(ready)
      if (m) {
        clearTimeout(timer)
        resolve(m)
      }
    })
  })
  return { child, exit, matched }
}

/** Records of `map`'s OTLP/JSON output. */
function mappedRecords(stdout: string): Array<{ body?: unknown }> {
  const otlp = JSON.parse(stdout) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<{ body?: unknown }> }> }> }
  return otlp.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords))
}
/** RECEIVER_BODY=none: OTLP/JSON writes an empty AnyValue (or none). */
const noBody = (r: { body?: unknown }): boolean => r.body === undefined || (typeof r.body === 'object' && r.body !== null && Object.keys(r.body).length === 0)

/** `map` in this process (the command's module, not main's argument handling): its exit code and output. */
function mapInProcess(input: string | Buffer, env: Record<string, string | undefined>, configFile?: string): { code: number; stdout: string; stderr: string } {
  let stdout = ''
  let stderr = ''
  const sink = (write: (s: string) => void) => ({ write: (chunk: string | Uint8Array) => (write(chunk.toString()), true) }) as unknown as NodeJS.WritableStream
  const code = mapCommand(Buffer.isBuffer(input) ? input : Buffer.from(input), {
    env,
    ...(configFile === undefined ? {} : { configFile }),
    stdout: sink((x) => (stdout += x)),
    stderr: sink((x) => (stderr += x)),
  })
  return { code, stdout, stderr }
}

t.test('map reads the config file as run does; the file\'s credentials are not its business', async (t) => {
  const dir = t.testdir({
    'body-none.yaml': 'RECEIVER_BODY: none\n',
    // A production file: its secret file does not exist here, and map needs no credentials.
    'prod.json': JSON.stringify({ RECEIVER_BODY: 'none', PROOFPOINT_PRINCIPAL: 'p', PROOFPOINT_SECRET_FILE: '/nonexistent/secret' }),
    'bad.yaml': 'RECEIVER_BODY: xml\n',
  })
  const fixture = readFileSync(FIXTURE)
  const fromEnv = mapInProcess(fixture, { RECEIVER_BODY: 'none' })
  t.equal(fromEnv.code, 0)
  t.ok(mappedRecords(fromEnv.stdout).every(noBody), 'RECEIVER_BODY=none from the environment: no body')
  for (const file of ['body-none.yaml', 'prod.json']) {
    const fromFile = mapInProcess(fixture, {}, join(dir, file))
    t.equal(fromFile.code, 0, `${file}: exit 0 (${fromFile.stderr})`)
    const records = mappedRecords(fromFile.stdout)
    t.ok(records.length > 0)
    t.ok(records.every(noBody), `${file}: RECEIVER_BODY=none from the file: no body`)
  }
  const viaEnvVar = mapInProcess(fixture, { RECEIVER_CONFIG_FILE: join(dir, 'body-none.yaml') })
  t.ok(mappedRecords(viaEnvVar.stdout).every(noBody), 'RECEIVER_CONFIG_FILE works the same')
  const bad = mapInProcess(fixture, {}, join(dir, 'bad.yaml'))
  t.equal(bad.code, 78, 'an invalid file setting stops map as it stops run')
  t.match(bad.stderr, /RECEIVER_BODY.*bad\.yaml/)
  const envWins = mapInProcess(fixture, { RECEIVER_BODY: 'json' }, join(dir, 'body-none.yaml'))
  t.ok(mappedRecords(envWins.stdout).every((r) => typeof (r.body as { stringValue?: unknown }).stringValue === 'string'), 'the environment wins over the file')

  // The command line passes --config to map.
  const cli = await run(['map', FIXTURE, '--config', join(dir, 'prod.json')], {})
  t.equal(cli.code, 0, cli.stderr)
  t.ok(mappedRecords(cli.stdout).every(noBody), 'map --config FILE: the file is read')
})

t.test('map prints what run would export: the attribute limits apply, and no PROOFPOINT_* setting is needed', (t) => {
  type Attribute = { key: string; value: { stringValue?: string; arrayValue?: { values?: Array<{ stringValue?: string }> } } }
  type JsonRecord = { body?: { stringValue?: string }; attributes?: Attribute[]; droppedAttributesCount?: number }
  const records = (stdout: string): JsonRecord[] => mappedRecords(stdout) as JsonRecord[]
  const strings = (r: JsonRecord): string[] =>
    (r.attributes ?? []).flatMap((a) => [a.value.stringValue, ...(a.value.arrayValue?.values ?? []).map((v) => v.stringValue)]).filter((s) => s !== undefined)
  const fixture = readFileSync(FIXTURE)

  const plain = mapInProcess(fixture, {})
  t.equal(plain.code, 0, `no credentials set: exit 0 (${plain.stderr})`)
  t.notMatch(plain.stderr, /PROOFPOINT_/, 'no credential is asked for')
  const longest = Math.max(...records(plain.stdout).flatMap(strings).map((s) => s.length))
  t.ok(longest > 12, 'the fixture has attribute values longer than the limit below')

  const limited = mapInProcess(fixture, { OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: '12' })
  t.equal(limited.code, 0, limited.stderr)
  const cut = records(limited.stdout)
  t.ok(cut.length > 0)
  t.ok(cut.flatMap(strings).every((s) => s.length <= 12), 'no attribute value over OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT')
  t.ok(cut.some((r) => (r.body?.stringValue?.length ?? 0) > 12), 'the body is never cut')

  const counted = records(mapInProcess(fixture, { OTEL_ATTRIBUTE_COUNT_LIMIT: '5' }).stdout)
  t.ok(counted.every((r) => (r.attributes ?? []).length <= 5), 'at most OTEL_ATTRIBUTE_COUNT_LIMIT attributes')
  t.ok(counted.every((r) => (r.droppedAttributesCount ?? 0) > 0), 'the dropped ones counted, as the exporter sends them')
  t.end()
})

t.test('map: a JSON body without any of the four event arrays warns and exits non-zero; an empty body is no events', (t) => {
  for (const body of ['{}', '{"error":"unauthorized"}', '{"queryEndTime":"2024-05-01T00:00:00Z"}']) {
    const r = mapInProcess(body, {})
    t.equal(r.code, 1, `${body}: exit 1`)
    // With other fields besides, the parser itself refuses it (as run does); else map warns.
    t.match(r.stderr, /(warning: the input has none of|is not a SIEM API JSON response .*none of the SIEM API's fields \(queryEndTime,) messagesDelivered, messagesBlocked, clicksPermitted, clicksBlocked/, body)
  }
  const emptyArrays = mapInProcess('{"queryEndTime":"2024-05-01T00:00:00Z","messagesDelivered":[],"clicksBlocked":[]}', {})
  t.equal(emptyArrays.code, 0, 'empty arrays: a response with no events')
  t.match(emptyArrays.stderr, /map: 0 records/)
  t.equal(mapInProcess('', {}).code, 0, 'an empty body is the API\'s 204: no events')
  t.end()
})

t.test('unexpected extra arguments: exit 2 with the usage', async (t) => {
  for (const args of [['run', 'now'], ['check-config', '--offline', 'extra'], ['demo', 'x'], ['map', FIXTURE, 'second.json']]) {
    const r = await run(args, { ...VALID, RECEIVER_HTTP_PORT: '0' })
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`)
    t.match(r.stderr, /unexpected argument/, args.join(' '))
    t.match(r.stderr, /Usage: /, `${args.join(' ')}: usage shown`)
    t.equal(r.stdout, '', `${args.join(' ')}: nothing done`)
  }
})

t.test('--help states the default state directory relative to the working directory', async (t) => {
  const help = await run(['--help'], {})
  t.equal(help.code, 0)
  t.match(help.stdout, /RECEIVER_STATE_DIR, by default \.\/data relative to the current working directory/)
})

/** A port free on 127.0.0.1 a moment ago. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

t.test('demo: reads --config FILE, names the address it listens on, removes its temporary state directory', async (t) => {
  const port = await freePort()
  const dir = t.testdir({
    tmp: {},
    'demo.yaml': `RECEIVER_HTTP_HOST: 127.0.0.1\nRECEIVER_HTTP_PORT: ${port}\nPROOFPOINT_SECRET_FILE: /nonexistent/secret\n`,
  })
  const tmp = join(dir, 'tmp')
  const p = start(['demo', '--config', join(dir, 'demo.yaml')], { TMPDIR: tmp }, /ops server listening on (http:\/\/127\.0\.0\.1:(\d+))/)
  const [, url, shownPort] = await p.matched
  t.equal(Number(shownPort), port, 'the port from the file is used and shown')
  const health = await request(`${url}/healthz`)
  t.equal(health.statusCode, 200, 'the banner\'s address answers')
  await health.body.dump()
  t.ok(readdirSync(tmp).some((n) => n.startsWith('proofpoint-siem-receiver-demo-')), 'state directory made under TMPDIR')
  p.child.kill('SIGINT')
  t.equal((await p.exit).code, 0)
  t.same(readdirSync(tmp), [], 'the temporary state directory is removed on exit')

  const bad = await runReceiver(['demo'], { TMPDIR: tmp, RECEIVER_BODY: 'xml' })
  t.equal(bad.code, 78)
  t.same(readdirSync(tmp), [], 'removed after a configuration error too')
})

/**
 * Runs `main.js args` with stdout piped to a reader that goes away after its first chunk, as `| head -c 300` does: the
 * command's next write gets EPIPE. The output must be larger than the pipe holds (64 KiB) plus that chunk.
 */
function withReaderGone(args: string[], env: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; read: number }> {
  const child = spawn(process.execPath, [MAIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  let read = 0
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdout.once('data', (d: Buffer) => {
    read = d.length
    child.stdout.destroy()
  })
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr, read })))
}

t.test('demo | head: the reader going away stops the demo cleanly (exit 0) and its temporary state directory is removed', async (t) => {
  const tmp = t.testdir()
  // Three hours of simulated events: some 350 KB of lines, more than the pipe holds.
  const r = await withReaderGone(['demo'], { TMPDIR: tmp, RECEIVER_HTTP_HOST: '127.0.0.1', RECEIVER_HTTP_PORT: '0', RECEIVER_START_LOOKBACK: '3h' })
  t.ok(r.read > 0, 'it printed records')
  t.same({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.stderr)
  t.notMatch(r.stderr, /EPIPE|Unhandled|unexpected failure|uncaught/i, 'no crash')
  t.same(readdirSync(tmp), [], 'the temporary state directory is removed')
})

t.test('map FILE | head -c 10: exits quietly, no crash', async (t) => {
  const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>
  // The fixture's events 20 times over: some 1.7 MB of OTLP/JSON, more than the pipe holds.
  const big = Object.fromEntries(Object.entries(fixture).map(([k, v]) => [k, Array.isArray(v) ? Array.from({ length: 20 }, () => v as unknown[]).flat() : v]))
  const file = join(t.testdir(), 'big.json')
  writeFileSync(file, JSON.stringify(big))
  const r = await withReaderGone(['map', file], {})
  t.same({ code: r.code, signal: r.signal }, { code: 0, signal: null }, r.stderr)
  t.notMatch(r.stderr, /EPIPE|Unhandled|unexpected failure|uncaught/i, 'no crash')
})

t.test('an exception nothing caught: one fatal log line through the redacting logger, exit 1', async (t) => {
  // A bug stands in as a module loaded before the receiver: on SIGUSR2 it throws (or rejects) an error that carries
  // a request's headers, as an HTTP client's error can. The credential is made at run time: the module's source
  // (its data: URL) is in the stack trace.
  const bug = (kind: string): string =>
    `data:text/javascript,process.on('SIGUSR2', () => { const err = Object.assign(new Error('boom'), { headers: { authorization: 'Basic ' + Buffer.from('ABCDEF-secret').toString('base64') } }); ${kind === 'throw' ? 'throw err' : 'void Promise.reject(err)'} })`
  for (const kind of ['throw', 'reject']) {
    const dir = t.testdir()
    const child = spawn(process.execPath, ['--import', bug(kind), MAIN, 'demo'], { env: cleanEnv({ TMPDIR: dir, RECEIVER_HTTP_HOST: '127.0.0.1', RECEIVER_HTTP_PORT: '0' }), stdio: ['ignore', 'ignore', 'pipe'] })
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })
    let stderr = ''
    const started = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
        if (stderr.includes('Ctrl-C stops')) resolve()
      }),
    )
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    await started
    child.kill('SIGUSR2')
    t.equal(await exit, 1, `${kind}: exit 1`)
    const fatal = stderr.split('\n').filter((l) => l.includes('"level":"fatal"'))
    t.equal(fatal.length, 1, `${kind}: one fatal line`)
    t.match(fatal[0], kind === 'throw' ? /uncaught exception: exiting/ : /unhandled promise rejection: exiting/)
    t.match(fatal[0], /boom/)
    t.notMatch(stderr, /QUJDREVGLXNlY3JldA==/, `${kind}: the header is redacted`)
  }
})
