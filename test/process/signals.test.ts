/**
 * Stop signals as supervisors and terminals send them, to the compiled binary: SIGTERM while `run` or `demo` is
 * still starting, SIGHUP to a running one, SIGTERM while a step waits on something that does not answer (a forward
 * proxy, a flock on a hung file system). Each must take the graceful path (exit 0, the `stopped` line), never Node's
 * default for the signal (the process killed by it, half-started); a shutdown that cannot finish says what it waited
 * for and exits 1.
 *
 * "While starting" is made certain, not timed: the configuration file (read before anything starts) or the state
 * file (read inside the start, after the ops server is listening) is a FIFO, so the receiver waits at that point
 * of its start-up until the test, having signalled it, writes the file's contents.
 */
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, constants, existsSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import type { Test } from 'tap'
import { onGlibc, youngGenerationAdvice } from '../../src/node-flags.js'
import { startSimulator } from '../../src/simulator/index.js'
import { startOtlpSink } from '../helpers/otlp-sink.js'
import { startReceiver } from '../helpers/child.js'
import type { Exit, ReceiverProcess } from '../helpers/child.js'

const skip = process.platform === 'win32' ? 'POSIX signals and FIFOs' : false
const SECRET = 'signals-s3cr3t'

const sim = await startSimulator({ principal: 'svc-principal', secret: SECRET, eventsPerMinute: 2 })
const sink = await startOtlpSink()
t.teardown(async () => {
  await sim.close()
  await sink.close()
})

/** `run` against the simulator and the sink; nothing else on the network. */
const RUN_ENV = {
  PROOFPOINT_BASE_URL: sim.url,
  PROOFPOINT_PRINCIPAL: 'svc-principal',
  PROOFPOINT_SECRET: SECRET,
  RECEIVER_START_LOOKBACK: '5m',
  OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
}

/** A test directory with `state/` for RECEIVER_STATE_DIR (t.testdir() may be called once per test: it empties the directory). */
function dirs(t: Test): { dir: string; stateDir: string } {
  const dir = t.testdir({ state: {} })
  return { dir, stateDir: join(dir, 'state') }
}

function spawnReceiver(t: Test, args: string[], env: Record<string, string>, stateDir: string): ReceiverProcess {
  const p = startReceiver({ args, env, stateDir })
  t.teardown(() => p.kill('SIGKILL'))
  return p
}

function mkfifo(dir: string, name: string): string {
  const path = join(dir, name)
  execFileSync('mkfifo', [path])
  return path
}

/** Resolves once the receiver opened the FIFO for reading (it then waits for its contents); rejects if it exits first. */
async function openedByReceiver(path: string, p: ReceiverProcess): Promise<FileHandle> {
  // O_WRONLY without O_CREAT: waits for the reader, and never makes a plain file of a FIFO that is not there.
  const writer = open(path, constants.O_WRONLY)
  const first = await Promise.race([writer.then((handle) => ({ handle })), p.exited.then((exit) => ({ exit }))])
  if ('handle' in first) return first.handle
  // Release the open still waiting for a reader, so no thread of the pool stays blocked.
  const reader = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  await (await writer).close()
  await reader.close()
  throw new Error(`the receiver exited (${String(first.exit.code ?? first.exit.signal)}) before reading ${path}; stderr:\n${p.stderr()}`)
}

/** Writes the FIFO's contents; the receiver may be gone already (then the write fails, which the exit shows). */
async function feed(handle: FileHandle, text: string): Promise<void> {
  await handle.writeFile(text).catch(() => undefined)
  await handle.close().catch(() => undefined)
}

/** Resolves once stderr matches; rejects if the receiver exits first. */
function untilStderr(p: ReceiverProcess, re: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      if (!re.test(p.stderr())) return false
      p.child.stderr?.off('data', check)
      resolve()
      return true
    }
    p.child.stderr?.on('data', check)
    void p.exited.then((e) => {
      if (!check()) reject(new Error(`the receiver exited (${String(e.code ?? e.signal)}) before ${String(re)}; stderr:\n${p.stderr()}`))
    })
    check()
  })
}

/** Bounded wait (no timing assertion): true once `cond` holds, false after `ms`. */
async function eventually(cond: () => Promise<boolean> | boolean, ms = 20_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await cond()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return cond()
}

/** A TCP server that takes connections and never answers (a forward proxy that hangs); `connected` once one came. */
async function silentServer(t: Test): Promise<{ url: string; connected: Promise<void> }> {
  const sockets = new Set<Socket>()
  let connected: () => void = () => undefined
  const first = new Promise<void>((resolve) => (connected = resolve))
  const server = createServer((s) => {
    sockets.add(s)
    s.on('error', () => undefined)
    connected()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connected: first }
}

function gracefulExit(t: Test, exit: Exit, p: ReceiverProcess, withStoppedLine = true): void {
  t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'exit 0, not killed by the signal')
  if (withStoppedLine) t.equal(p.logsMatching(/^stopped$/).length, 1, "the graceful 'stopped' log line")
  t.notMatch(p.stderr(), /unexpected failure|could not start/)
}

t.test('run: SIGTERM while the configuration is being read (before anything started) stops it, exit 0', { skip }, async (t) => {
  const { dir, stateDir } = dirs(t)
  const config = mkfifo(dir, 'receiver.json')
  const p = spawnReceiver(t, ['run', '--config', config], RUN_ENV, stateDir)
  const handle = await openedByReceiver(config, p)
  p.kill('SIGTERM')
  await feed(handle, '{"RECEIVER_POLL_INTERVAL": "1m"}\n')
  gracefulExit(t, await p.exited, p)
})

t.test('run: SIGTERM during the start (ops server up, state file being read) stops it once started, exit 0', { skip }, async (t) => {
  const { stateDir } = dirs(t)
  const stateFile = mkfifo(stateDir, 'state.json')
  const p = spawnReceiver(t, ['run'], RUN_ENV, stateDir)
  const handle = await openedByReceiver(stateFile, p)
  p.kill('SIGTERM')
  // Still starting (the state file not read yet): the probes already say it is going away.
  t.ok(await eventually(async () => JSON.stringify((await p.ops('/readyz')).body).includes('the receiver is shutting down')), '/readyz: shutting down')
  const cursor = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000).toISOString()
  await feed(handle, `${JSON.stringify({ version: 2, cursor, exportedKeys: {} })}\n`)
  const exit = await p.exited
  gracefulExit(t, exit, p)
  const msgs = p.logs.map((l) => l.msg)
  t.ok(msgs.indexOf('receiver started') < msgs.indexOf('shutting down'), 'the start completed, then the shutdown')
  t.match(p.logsMatching(/^shutting down$/)[0], { signal: 'SIGTERM' })
  // Started as `node dist/src/main.js`, without nodeFlags: the log says what to start it with for the threads it runs
  // (on this 2-CPU machine 2, so Node 20 too).
  const workers = (p.logsMatching(/^events are parsed, mapped and encoded/)[0] as { workers?: unknown } | undefined)?.workers
  t.type(workers, 'number', 'the log names the threads')
  const want = youngGenerationAdvice(process.version, [], undefined, Number(workers))
  const advice = p.logsMatching(/was started with/)
  if (want !== undefined) t.match(advice, [{ level: 'info', msg: want }], `${process.version}, ${String(workers)} threads: the log says how to start it`)
  else t.same(advice, [], `${process.version}, ${String(workers)} threads: nothing to say`)
  // Nor with MALLOC_ARENA_MAX (LAUNCH_ENV), unless this environment has its own.
  const arenas = p.logsMatching(/started without MALLOC_ARENA_MAX=1/)
  if (process.env.MALLOC_ARENA_MAX === undefined && onGlibc()) t.match(arenas, [{ level: 'info' }], 'the log says to start it with MALLOC_ARENA_MAX=1')
  else t.same(arenas, [], 'nothing to say about malloc arenas')
})

t.test('run: SIGHUP stops a running receiver gracefully like SIGTERM, exit 0', { skip }, async (t) => {
  const p = spawnReceiver(t, ['run'], RUN_ENV, dirs(t).stateDir)
  await untilStderr(p, /"msg":"receiver started"/)
  p.kill('SIGHUP')
  gracefulExit(t, await p.exited, p)
  t.match(p.logsMatching(/^shutting down$/)[0], { signal: 'SIGHUP' })
})

t.test('demo: SIGTERM while it reads its configuration stops it once started, exit 0', { skip }, async (t) => {
  const { dir, stateDir } = dirs(t)
  const config = mkfifo(dir, 'demo.json')
  const p = spawnReceiver(t, ['demo'], { RECEIVER_CONFIG_FILE: config }, stateDir)
  const handle = await openedByReceiver(config, p)
  p.kill('SIGTERM')
  await feed(handle, '{}\n')
  // The demo logs at warn: no 'stopped' line, its banner shows it started before stopping.
  gracefulExit(t, await p.exited, p, false)
  t.match(p.stderr(), /Ctrl-C stops/)
})

t.test('demo: SIGHUP stops it gracefully, exit 0', { skip }, async (t) => {
  const p = spawnReceiver(t, ['demo'], {}, dirs(t).stateDir)
  await untilStderr(p, /Ctrl-C stops/)
  p.kill('SIGHUP')
  gracefulExit(t, await p.exited, p, false)
})

t.test('run: SIGTERM while the SIEM API request waits on a forward proxy that never answers: exit 0 at once, not at the deadline', { skip }, async (t) => {
  const proxy = await silentServer(t)
  // The request timeout (60 s) is far past the shutdown deadline: only the stop itself can end the wait in time.
  const p = spawnReceiver(t, ['run'], { ...RUN_ENV, PROOFPOINT_PROXY_URL: proxy.url }, dirs(t).stateDir)
  await proxy.connected
  p.kill('SIGTERM')
  gracefulExit(t, await p.exited, p)
  t.same(p.logsMatching(/did not finish/), [], 'within the shutdown deadline')
})

t.test('run: SIGTERM while flock hangs (a hung NFS server): stops at once, exit 0, not 30 s later with "no file locks"', { skip }, async (t) => {
  const { dir, stateDir } = dirs(t)
  const flock = join(dir, 'flock')
  writeFileSync(flock, '#!/bin/sh\ntouch "$0.started"\nexec sleep 120\n')
  chmodSync(flock, 0o755)
  const p = spawnReceiver(t, ['run'], { ...RUN_ENV, PATH: `${dir}:${process.env.PATH ?? ''}` }, stateDir)
  t.ok(await eventually(() => existsSync(`${flock}.started`)), 'the receiver runs flock')
  p.kill('SIGTERM')
  gracefulExit(t, await p.exited, p)
  t.notMatch(p.stderr(), /cannot lock/)
  t.same(p.logsMatching(/receiver started/), [], 'it never polled')
})

t.test('run: a shutdown that cannot finish (the state write blocks) exits 1 after the deadline and says what it waited for', { skip }, async (t) => {
  const sink = await startOtlpSink()
  t.teardown(() => sink.close())
  const { stateDir } = dirs(t)
  let hanging: () => void = () => undefined
  const hung = new Promise<void>((resolve) => (hanging = resolve))
  sink.onRequest(({ index }) => {
    if (index === 1) {
      void sink.setMode('hang')
      hanging()
    }
  })
  const env = { ...RUN_ENV, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, RECEIVER_START_LOOKBACK: '30m', RECEIVER_EXPORT_BATCH_SIZE: '5', RECEIVER_EXPORT_CONCURRENCY: '1', RECEIVER_WORKERS: '0' }
  const p = spawnReceiver(t, ['run'], env, stateDir)
  await hung
  // The stop saves what the collector acknowledged: make that write block, as on a file system that stopped
  // answering. Its temporary file's name is state.json.tmp-<pid>-<n>: every n it may take is a FIFO, which its open
  // waits on until a reader comes.
  const fifos = Array.from({ length: 500 }, (_, n) => join(stateDir, `state.json.tmp-${p.pid}-${n + 1}`)).filter((f) => !existsSync(f))
  execFileSync('mkfifo', fifos)
  p.kill('SIGTERM')
  await untilStderr(p, /did not finish within/)
  // The blocked open holds a libuv thread, which the process joins on exit: let it go, so the exit can complete.
  for (const f of fifos) await (await open(f, constants.O_RDONLY | constants.O_NONBLOCK)).close()
  const exit = await p.exited
  t.same({ code: exit.code, signal: exit.signal }, { code: 1, signal: null }, 'exit 1: not a graceful stop')
  t.match(p.logsMatching(/did not finish within 9 s/), [{ level: 'error', pending: /poll loop/ }], 'says which step it waited for')
  t.same(p.logsMatching(/^stopped$/), [], "no 'stopped' line")
})
