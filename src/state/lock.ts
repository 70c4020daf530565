import { spawn } from 'node:child_process'
import { constants } from 'node:fs'
import { open, readFile, stat } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import type { Logger } from 'pino'
import { StateError } from '../errors.js'
import { makeDirectory } from './make-dir.js'

/** The lock file inside RECEIVER_STATE_DIR. Never delete it while a receiver runs: a new file is a new lock. */
export const LOCK_FILE_NAME = '.lock'
/** A standby tries again this often: the takeover after the holder stops or dies comes within about this long. */
const STANDBY_RETRY_MS = 2_000
/** A standby logs that it waits when it starts to, then at most this often. */
const STANDBY_LOG_EVERY_MS = 10 * 60_000
/** `flock -n` never waits for the lock; this bounds a file system that does not answer (a hung NFS server). */
const FLOCK_TIMEOUT_MS = 30_000

/** Who holds the lock, as the holder wrote it into the lock file (for people: a pid alone says little in a container). */
export interface LockHolder {
  pid: number
  hostname: string
  since: string
}

export interface AcquireOptions {
  /** Aborting ends the wait: `acquire` then resolves false (a lock taken meanwhile is kept; `release` drops it). */
  signal: AbortSignal
  logger?: Logger
  /** Called before every wait while another receiver holds the lock, with the reason `/readyz` shows. */
  onStandby?: (reason: string) => void
  retryMs?: number
  logEveryMs?: number
}

/**
 * One receiver per RECEIVER_STATE_DIR: an exclusive flock(2) lock on `RECEIVER_STATE_DIR/.lock`. Node has no flock API:
 * this process opens the lock file and a short-lived `flock -n -x 3` child locks that open file description (its fd 3)
 * and exits. The lock belongs to the description, not to a process: held while this process keeps the file open,
 * dropped by the kernel when the last descriptor closes (release, exit and kill -9 alike). No process outlives us
 * holding it, and no pid or staleness timeout can go wrong (pids are reused; in containers every receiver is pid 1).
 * Works between processes on one host and containers sharing a volume on one node (one kernel); on NFS, Linux turns
 * flock into an NFS byte-range lock: see the README.
 */
export class StateDirLock {
  readonly path: string
  /** The flock(1) command (util-linux, or BusyBox); default `flock`, found on PATH. */
  private readonly flockCommand: string
  private readonly flockTimeoutMs: number
  private handle: FileHandle | undefined
  private holding = false

  constructor(readonly dir: string, opts: { flockCommand?: string; flockTimeoutMs?: number } = {}) {
    this.path = join(dir, LOCK_FILE_NAME)
    this.flockCommand = opts.flockCommand ?? 'flock'
    this.flockTimeoutMs = opts.flockTimeoutMs ?? FLOCK_TIMEOUT_MS
  }

  get held(): boolean {
    return this.holding
  }

  /**
   * One attempt, without waiting: true when this process holds the lock now (or already did), false when another
   * open file description holds it (another receiver, in this process or another) or `signal` ended the attempt (a
   * flock waiting on a file system that does not answer). Throws StateError when the lock cannot be tried at all: no
   * flock command, a file system without locks or that does not answer, an unwritable directory.
   */
  async tryAcquire(signal?: AbortSignal): Promise<boolean> {
    if (this.holding) return true
    // A standby's file deleted or replaced since it opened it: locking that one would make two holders.
    if (this.handle && !(await this.isFileAtPath(this.handle))) await this.forgetHandle()
    const handle = await this.open()
    const result = await runFlock(this.flockCommand, handle.fd, this.flockTimeoutMs, signal)
    if (result.kind === 'aborted') return false
    if (result.kind === 'missing') {
      throw new StateError(
        `cannot lock RECEIVER_STATE_DIR "${this.dir}": the "${this.flockCommand}" command was not found (${result.detail}). The receiver needs flock(1) to make sure only one receiver polls per state directory: install util-linux (Debian/Ubuntu: apt-get install util-linux; Alpine: apk add util-linux) or put flock on PATH`,
      )
    }
    if (result.kind === 'timeout') {
      throw new StateError(
        `cannot lock "${this.path}": the file system did not answer within ${this.flockTimeoutMs / 1000} s (a hung NFS server?); check the mount of RECEIVER_STATE_DIR`,
      )
    }
    if (result.kind === 'failed') {
      throw new StateError(
        `cannot lock "${this.path}" (${result.detail}): RECEIVER_STATE_DIR must be on a file system that supports file locks (a local disk or volume; on NFS, a mount with locking enabled)`,
      )
    }
    if (result.kind === 'busy') return false
    this.holding = true
    await this.writeHolder(handle)
    return true
  }

  /**
   * Takes the lock, waiting as a standby while another receiver holds it: tries every `retryMs`, logs once when it
   * starts to wait and then every `logEveryMs`. Resolves true once held, false when `signal` aborted the wait.
   */
  async acquire(opts: AcquireOptions): Promise<boolean> {
    const retryMs = opts.retryMs ?? STANDBY_RETRY_MS
    const logEveryMs = opts.logEveryMs ?? STANDBY_LOG_EVERY_MS
    const waitStarted = Date.now()
    let loggedAt: number | undefined
    while (!opts.signal.aborted) {
      if (await this.tryAcquire(opts.signal)) {
        if (loggedAt !== undefined) {
          opts.logger?.info(
            { stateDir: this.dir, lockFile: this.path, standbySeconds: Math.round((Date.now() - waitStarted) / 1000) },
            'took over the lock on RECEIVER_STATE_DIR: the other receiver stopped; this one polls from the saved cursor',
          )
        }
        return true
      }
      if (opts.signal.aborted) break
      const holder = await this.holder()
      const who = holder ? ` (pid ${holder.pid} on host ${holder.hostname}, since ${holder.since})` : ''
      const reason = `standby: another receiver holds the lock on RECEIVER_STATE_DIR "${this.dir}"${who} (lock file ${this.path})`
      opts.onStandby?.(reason)
      const now = Date.now()
      if (loggedAt === undefined || now - loggedAt >= logEveryMs) {
        opts.logger?.warn(
          { stateDir: this.dir, lockFile: this.path, ...(holder ? { holder } : {}), standbySeconds: Math.round((now - waitStarted) / 1000) },
          `${reason}. This receiver waits as a standby and takes over within seconds when that one stops or dies; if two receivers on one directory is not what you meant, give each its own RECEIVER_STATE_DIR`,
        )
        loggedAt = now
      }
      try {
        await delay(retryMs, undefined, { signal: opts.signal })
      } catch {
        break // aborted
      }
    }
    return false
  }

  /**
   * Whether the lock this receiver holds is still the lock on `RECEIVER_STATE_DIR/.lock`. The file (or the whole
   * directory) may have been deleted or replaced, and a new file is a new lock another receiver can take: then the
   * lock is taken on the file now at the path ('retaken'), or another receiver holds that one ('lost'). Called before
   * every state write, so two receivers never both commit.
   */
  async verify(): Promise<'held' | 'retaken' | 'lost'> {
    if (this.holding && this.handle && (await this.isFileAtPath(this.handle))) return 'held'
    await this.forgetHandle()
    return (await this.tryAcquire()) ? 'retaken' : 'lost'
  }

  /** The open lock file is the one at the path (same device and inode). */
  private async isFileAtPath(handle: FileHandle): Promise<boolean> {
    try {
      const [open, atPath] = await Promise.all([handle.stat(), stat(this.path)])
      return open.ino === atPath.ino && open.dev === atPath.dev
    } catch {
      return false
    }
  }

  /** Closes the lock file (dropping any lock on it) so that the next attempt opens the path anew. */
  private async forgetHandle(): Promise<void> {
    const handle = this.handle
    this.handle = undefined
    this.holding = false
    await handle?.close().catch(() => undefined)
  }

  /** What the holder wrote into the lock file; undefined when unknown (an older or a crashed holder, a torn read). */
  async holder(): Promise<LockHolder | undefined> {
    try {
      const value = JSON.parse(await readFile(this.path, 'utf8')) as unknown
      if (typeof value !== 'object' || value === null) return undefined
      const { pid, hostname: host, since } = value as Record<string, unknown>
      if (typeof pid !== 'number' || typeof host !== 'string' || typeof since !== 'string') return undefined
      return { pid, hostname: host, since }
    } catch {
      return undefined
    }
  }

  /** Drops the lock (closes the lock file). Idempotent. */
  async release(): Promise<void> {
    const handle = this.handle
    this.handle = undefined
    if (!handle) return
    if (this.holding) await handle.truncate(0).catch(() => undefined)
    this.holding = false
    await handle.close().catch(() => undefined)
  }

  private async open(): Promise<FileHandle> {
    if (this.handle) return this.handle
    try {
      await makeDirectory(this.dir)
      // Read-write: on NFS an exclusive lock needs a file open for writing. Node opens it close-on-exec, so no
      // other child process inherits it; only the flock child gets it, on purpose.
      this.handle = await open(this.path, constants.O_RDWR | constants.O_CREAT, 0o600)
    } catch (err) {
      throw new StateError(
        `cannot open the lock file "${this.path}" (${err instanceof Error ? err.message : String(err)}): RECEIVER_STATE_DIR must be a directory this process can write`,
        err,
      )
    }
    return this.handle
  }

  private async writeHolder(handle: FileHandle): Promise<void> {
    const text = `${JSON.stringify({ pid: process.pid, hostname: hostname(), since: new Date().toISOString() } satisfies LockHolder)}\n`
    try {
      await handle.truncate(0)
      await handle.write(text, 0, 'utf8')
    } catch {
      // Only informative: the lock is what counts.
    }
  }
}

type FlockResult =
  | { kind: 'locked' }
  | { kind: 'busy' }
  | { kind: 'missing'; detail: string }
  | { kind: 'failed'; detail: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' }

/**
 * `flock -n -x 3` on `fd`: exit 0 locked; exit 1 with nothing on stderr: held elsewhere (util-linux and BusyBox alike).
 * A flock the file system keeps waiting (a hung NFS server) is killed after `timeoutMs`, or at once when `signal`
 * aborts: a stop must not wait for it.
 */
function runFlock(command: string, fd: number, timeoutMs: number, signal?: AbortSignal): Promise<FlockResult> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve({ kind: 'aborted' })
    let stderr = ''
    let killedFor: 'timeout' | 'aborted' | undefined
    const child = spawn(command, ['-n', '-x', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] })
    const kill = (why: 'timeout' | 'aborted'): void => {
      killedFor ??= why
      child.kill('SIGKILL')
    }
    // Our own timer, not spawn's `timeout`: that one is not cleared when the command is missing, and holds the loop.
    const timer = setTimeout(() => kill('timeout'), timeoutMs)
    timer.unref()
    const onAbort = (): void => kill('aborted')
    signal?.addEventListener('abort', onAbort, { once: true })
    const done = (r: FlockResult): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(r)
    }
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
    child.on('error', (err: NodeJS.ErrnoException) => {
      done(err.code === 'ENOENT' ? { kind: 'missing', detail: `${command}: ${err.code}` } : { kind: 'failed', detail: err.message })
    })
    child.on('close', (code, signal) => {
      const text = stderr.trim()
      // Killed by us, but it may have locked just before: then the lock is held (release drops it) and said so.
      if (code === 0) done({ kind: 'locked' })
      else if (killedFor !== undefined) done({ kind: killedFor })
      else if (code === 1 && text === '') done({ kind: 'busy' })
      else done({ kind: 'failed', detail: `${command} exited with ${signal ?? String(code)}${text ? `: ${text}` : ''}` })
    })
  })
}
