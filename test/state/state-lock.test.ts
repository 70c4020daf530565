/**
 * One receiver per state directory (issue 11): the lock on RECEIVER_STATE_DIR/.lock. Two holders in one process,
 * a holder in another process that exits or is killed with SIGKILL, the standby wait, and the start-up errors.
 */
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import t from 'tap'
import type { Test } from 'tap'
import { StateError } from '../../src/errors.js'
import { LOCK_FILE_NAME, StateDirLock } from '../../src/state/index.js'
import { ReceiverStatus } from '../../src/status/index.js'

const LOCK_MODULE = fileURLToPath(new URL('../../src/state/lock.js', import.meta.url))

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'psr-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function newLock(t: Test, dir: string, opts?: ConstructorParameters<typeof StateDirLock>[1]): StateDirLock {
  const lock = new StateDirLock(dir, opts)
  t.teardown(() => lock.release())
  return lock
}

/** Pino logger writing parsed lines into `lines`. */
function captureLogger(lines: Array<{ level: number; msg: string }>): pino.Logger {
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string })
      cb()
    },
  })
  return pino({ level: 'info' }, stream)
}

/** Another process that takes the lock on `dir` (waiting for it), prints "locked" and then waits until killed or told to exit. */
function holderProcess(dir: string): { locked: Promise<void>; exited: Promise<number | null>; kill: (s: NodeJS.Signals) => void; stdinEnd: () => void } {
  const script = `
    import { StateDirLock } from ${JSON.stringify(LOCK_MODULE)}
    const lock = new StateDirLock(${JSON.stringify(dir)})
    const stop = new AbortController()
    if (!(await lock.acquire({ signal: stop.signal, retryMs: 50 }))) process.exit(3)
    process.stdout.write('locked\\n')
    process.stdin.resume()
    process.stdin.on('end', () => process.exit(0))`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const locked = new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('locked\n')) resolve()
    })
    void exited.then((code) => reject(new Error(`the holder exited (${String(code)}) before it took the lock`)))
  })
  locked.catch(() => undefined)
  return {
    locked,
    exited,
    kill: (s) => child.kill(s),
    stdinEnd: () => child.stdin.end(),
  }
}

/** Bounded wait (no timing assertion): resolves true once `cond` holds, false after `ms`. */
async function eventually(cond: () => Promise<boolean>, ms = 20_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await cond()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return cond()
}

void t.test('two holders in one process: the second is refused until the first releases', async (t) => {
  const dir = tempDir(t)
  const a = newLock(t, dir)
  const b = newLock(t, dir)
  t.equal(await a.tryAcquire(), true, 'the first takes it')
  t.equal(a.held, true)
  t.equal(await a.tryAcquire(), true, 'asking again while holding is fine')
  t.equal(await b.tryAcquire(), false, 'the second is refused')
  t.equal(await b.tryAcquire(), false, 'and again')
  t.equal(b.held, false)
  t.match(await b.holder(), { pid: process.pid, hostname: hostname() }, 'the lock file says who holds it')
  await a.release()
  t.equal(a.held, false)
  t.equal(await b.tryAcquire(), true, 'released on close: the second takes it')
  t.equal(await a.tryAcquire(), false, 'now the first is refused')
  await a.release()
  await a.release()
  t.equal(await b.tryAcquire(), true, 'release is idempotent and leaves the other holder alone')
})

void t.test('the lock file lives in the state directory; the directory is created if missing', async (t) => {
  const dir = join(tempDir(t), 'nested', 'state')
  const a = newLock(t, dir)
  t.equal(a.path, join(dir, LOCK_FILE_NAME))
  t.equal(await a.tryAcquire(), true)
  t.match(JSON.parse(readFileSync(a.path, 'utf8')), { pid: process.pid, hostname: hostname(), since: String })
})

void t.test('a holder in another process: refused while it runs, free once it exits', async (t) => {
  const dir = tempDir(t)
  const holder = holderProcess(dir)
  t.teardown(() => holder.kill('SIGKILL'))
  await holder.locked
  const b = newLock(t, dir)
  t.equal(await b.tryAcquire(), false, 'refused while the other process holds it')
  holder.stdinEnd()
  t.equal(await holder.exited, 0)
  t.equal(await b.tryAcquire(), true, 'free once the holder exited')
})

void t.test('kill -9 of the holder frees the lock: nothing stale is left behind', async (t) => {
  const dir = tempDir(t)
  const holder = holderProcess(dir)
  t.teardown(() => holder.kill('SIGKILL'))
  await holder.locked
  const b = newLock(t, dir)
  t.equal(await b.tryAcquire(), false, 'refused while the other process holds it')
  t.ok(await b.holder(), 'the lock file names the holder')
  holder.kill('SIGKILL')
  await holder.exited
  // The lock file (with the dead holder's pid) is still there: it is not what decides.
  t.ok(readFileSync(b.path, 'utf8').length > 0, 'the dead holder left its note behind')
  t.equal(await b.tryAcquire(), true, 'taken right after the kill, whatever the file says')
})

void t.test('acquire waits as a standby: logs once, reports the reason, takes over when the holder dies', async (t) => {
  const dir = tempDir(t)
  const holder = holderProcess(dir)
  t.teardown(() => holder.kill('SIGKILL'))
  await holder.locked
  const lines: Array<{ level: number; msg: string }> = []
  const reasons: string[] = []
  const b = newLock(t, dir)
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const waiting = b.acquire({ signal: stop.signal, logger: captureLogger(lines), retryMs: 20, onStandby: (r) => reasons.push(r) })
  t.ok(await eventually(() => Promise.resolve(reasons.length >= 5)), 'several attempts while the other holds it')
  t.equal(b.held, false)
  t.match(reasons[0], /^standby: another receiver holds the lock on RECEIVER_STATE_DIR ".*psr-lock-.*" \(pid \d+ on host .+, since .+\) \(lock file .*\.lock\)$/)
  const warnings = lines.filter((l) => l.level === 40)
  t.equal(warnings.length, 1, 'the standby is logged once, not per attempt')
  t.match(warnings[0]?.msg, /another receiver holds the lock on RECEIVER_STATE_DIR.*give each its own RECEIVER_STATE_DIR/)
  holder.kill('SIGKILL')
  t.equal(await waiting, true, 'took over after the kill')
  t.equal(b.held, true)
  t.ok(lines.some((l) => l.level === 30 && /took over the lock/.test(l.msg)), 'the takeover is logged')
})

void t.test('acquire logs again only after logEveryMs', async (t) => {
  const dir = tempDir(t)
  const a = newLock(t, dir)
  t.equal(await a.tryAcquire(), true)
  const lines: Array<{ level: number; msg: string }> = []
  let attempts = 0
  const stop = new AbortController()
  const waiting = newLock(t, dir).acquire({
    signal: stop.signal,
    logger: captureLogger(lines),
    retryMs: 5,
    logEveryMs: 0,
    onStandby: () => {
      if (++attempts === 3) stop.abort()
    },
  })
  t.equal(await waiting, false, 'an aborted wait resolves false')
  t.equal(lines.filter((l) => l.level === 40).length, 3, 'with logEveryMs 0 every attempt logs')
})

void t.test('an aborted wait ends without the lock; a wait already aborted does not try', async (t) => {
  const dir = tempDir(t)
  const a = newLock(t, dir)
  t.equal(await a.tryAcquire(), true)
  const b = newLock(t, dir)
  const stop = new AbortController()
  const waiting = b.acquire({ signal: stop.signal, retryMs: 60_000, onStandby: () => stop.abort() })
  t.equal(await waiting, false)
  t.equal(b.held, false)
  t.equal(await b.acquire({ signal: AbortSignal.abort() }), false)
  await a.release()
  t.equal(await newLock(t, dir).acquire({ signal: new AbortController().signal }), true, 'a free lock is taken at the first attempt')
})

void t.test('no flock command: a start-up error that says what to install', async (t) => {
  const dir = tempDir(t)
  const lock = newLock(t, dir, { flockCommand: join(dir, 'no-such-flock') })
  const err = await lock.tryAcquire().then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err instanceof StateError, 'a StateError (exit 78)')
  t.match((err as Error).message, /"[^"]*no-such-flock" command was not found.*install util-linux/)
  t.equal(lock.held, false)
})

void t.test('flock failing (a file system without locks): an error naming the lock file, not a standby', async (t) => {
  const dir = tempDir(t)
  const fake = join(dir, 'fake-flock')
  writeFileSync(fake, '#!/bin/sh\necho "flock: 3: No locks available" >&2\nexit 1\n')
  chmodSync(fake, 0o755)
  const lock = newLock(t, dir, { flockCommand: fake })
  await t.rejects(lock.tryAcquire(), { code: 'PSR_ERR_STATE', message: /cannot lock ".*\.lock".*No locks available.*supports file locks/ })
})

/** A flock that never answers, as on a hung NFS server; it touches `<itself>.started` first so a test knows it runs. */
function hangingFlock(dir: string): { command: string; started: string } {
  const command = join(dir, 'hanging-flock')
  writeFileSync(command, '#!/bin/sh\ntouch "$0.started"\nexec sleep 120\n')
  chmodSync(command, 0o755)
  return { command, started: `${command}.started` }
}

void t.test('a flock the file system does not answer: after the timeout, an error that says so (not "no file locks")', async (t) => {
  const dir = tempDir(t)
  const lock = newLock(t, dir, { flockCommand: hangingFlock(dir).command, flockTimeoutMs: 200 })
  await t.rejects(lock.tryAcquire(), { code: 'PSR_ERR_STATE', message: /cannot lock ".*\.lock": the file system did not answer within 0\.2 s \(a hung NFS server\?\)/ })
  t.equal(lock.held, false)
})

void t.test('a stop while flock hangs ends the wait at once: acquire resolves false, the flock is killed', async (t) => {
  const dir = tempDir(t)
  const flock = hangingFlock(dir)
  // Without the abort reaching the flock, acquire would fail after this timeout instead of resolving false.
  const lock = newLock(t, dir, { flockCommand: flock.command, flockTimeoutMs: 20_000 })
  const stop = new AbortController()
  const waiting = lock.acquire({ signal: stop.signal, onStandby: () => t.fail('not a standby') })
  t.ok(await eventually(async () => existsSync(flock.started)), 'flock runs')
  stop.abort()
  t.equal(await waiting, false)
  t.equal(lock.held, false)
})

void t.test('a state directory that cannot be written: an error naming RECEIVER_STATE_DIR', { skip: process.getuid?.() === 0 ? 'root writes anywhere' : false }, async (t) => {
  const dir = tempDir(t)
  chmodSync(dir, 0o500)
  t.teardown(() => chmodSync(dir, 0o700))
  await t.rejects(newLock(t, dir).tryAcquire(), { code: 'PSR_ERR_STATE', message: /RECEIVER_STATE_DIR/ })
})

void t.test('status in standby: not ready with the reason, alive however long, and liveness counts from the takeover', (t) => {
  const T = Date.parse('2026-11-24T12:00:00Z')
  const status = new ReceiverStatus({ startedAt: T, noEventsAlertAfterMs: 86_400_000, pollIntervalMs: 60_000, eventTypes: ['messagesDelivered'], version: 'test' })
  const reason = 'standby: another receiver holds the lock on RECEIVER_STATE_DIR "/data" (lock file /data/.lock)'
  status.setStandby(reason)
  t.equal(status.snapshot(T).state, 'standby')
  const readiness = status.readiness(T)
  t.equal(readiness.ready, false)
  t.equal(readiness.reasons[0], reason, 'the standby reason comes first')
  const day = 86_400_000
  t.same(status.liveness(T + day), { alive: true }, 'a day in standby is still alive: waiting is its job')
  status.setStandby(undefined, { mono: T + day, wall: T + day })
  t.equal(status.snapshot(T + day).state, 'starting')
  t.notOk(status.readiness(T + day).reasons.includes(reason), 'the standby reason is gone')
  t.equal(status.liveness(T + day + 60_000).alive, true, 'liveness counts from the takeover, not from the process start')
  t.equal(status.liveness(T + day + status.livenessTimeoutMs() + 1).alive, false, 'and still catches a loop stuck after it')
  status.setPhase('stopping')
  status.setStandby(undefined)
  t.equal(status.snapshot(T).state, 'stopping', 'ending a standby that is not on leaves the phase alone')
  t.end()
})

void t.test('the lock file deleted while held: the holder finds out before it writes, and a second receiver never holds it beside it', async (t) => {
  const dir = tempDir(t)
  const holder = newLock(t, dir)
  t.equal(await holder.tryAcquire(), true)
  t.equal(await holder.verify(), 'held', 'untouched: held')

  // Deleted, then checked by the holder first: it locks the new file, and another receiver is a standby again.
  rmSync(join(dir, LOCK_FILE_NAME))
  t.equal(await holder.verify(), 'retaken')
  t.equal(await newLock(t, dir).tryAcquire(), false, 'a second receiver is refused')

  // Deleted, and another receiver takes the new file first: the holder learns it lost the lock.
  rmSync(join(dir, LOCK_FILE_NAME))
  const other = newLock(t, dir)
  t.equal(await other.tryAcquire(), true, 'a new file is a new lock')
  t.equal(await holder.verify(), 'lost', 'so the old holder must not write')
  await other.release()
  t.equal(await holder.verify(), 'retaken', 'and takes over once that one stops')

  // The whole directory deleted: made again, and locked again.
  rmSync(dir, { recursive: true, force: true })
  t.equal(await holder.verify(), 'retaken')
  t.equal(await newLock(t, dir).tryAcquire(), false)
})

void t.test('a standby whose lock file was replaced locks the file at the path, not the one it opened', async (t) => {
  const dir = tempDir(t)
  const first = newLock(t, dir)
  t.equal(await first.tryAcquire(), true)
  const standby = newLock(t, dir)
  t.equal(await standby.tryAcquire(), false, 'a standby, its file open')
  rmSync(join(dir, LOCK_FILE_NAME))
  t.equal(await first.verify(), 'retaken', 'the holder locks the new file')
  await first.release()
  const third = newLock(t, dir)
  t.equal(await standby.tryAcquire(), true, 'the standby takes over, on the file at the path')
  t.equal(await third.tryAcquire(), false, 'so a third receiver is refused: one holder')
})
