/**
 * Running the receiver (or npm) as users do, in a child process. Two ways:
 * - to the end, its output collected: `runReceiver`, `runBounded` (killed when it hangs), `runProcess` (any command);
 * - while it runs (`startReceiver`): the compiled receiver (`dist/src/main.js run`) with a clean environment (only what
 *   the test sets), the ops server on a free loopback port, a real state directory. Helpers read its ops endpoints,
 *   wait for a condition on `/status`, signal it, sample its memory and read its state file.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'

/** The compiled command line. */
export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url))

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Env without the developer's own OTEL_/PROOFPOINT_/RECEIVER_ settings, so tests see only what they set. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(OTEL_|PROOFPOINT_|RECEIVER_)/.test(k)) env[k] = v
  return { ...env, ...extra }
}

/** Runs `command args` to the end; `input` goes to its stdin; killed with `killSignal` (SIGTERM) after `timeoutMs` (60 s). */
export function runProcess(
  command: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number; killSignal?: NodeJS.Signals },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
      ...(opts.killSignal ? { killSignal: opts.killSignal } : {}),
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
    child.stdin.end(opts.input ?? '')
  })
}

/** The receiver's command line with a clean environment plus `env`. */
export function runReceiver(args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return runProcess(process.execPath, [MAIN, ...args], { env: cleanEnv(env), ...(input === undefined ? {} : { input }) })
}

/**
 * Runs `main.js args` with a clean environment plus `env`. A child still running after `boundMs` is killed with
 * SIGKILL (a hung start-up ignores SIGTERM: it waits for the start to finish), so a hang shows as `signal: 'SIGKILL'`
 * instead of a test that never ends.
 */
export function runBounded(args: string[], env: Record<string, string>, boundMs: number): Promise<Run> {
  return runProcess(process.execPath, [MAIN, ...args], { env: cleanEnv(env), timeoutMs: boundMs, killSignal: 'SIGKILL' })
}

/** One JSON log line of the receiver (pino); a line that is not JSON is kept as `{ msg: line, raw: true }`. */
export interface LogLine {
  /** pino writes labels ("info", "warn") or numbers (30, 40), depending on its formatter. */
  level?: number | string
  msg?: string
  raw?: boolean
  [key: string]: unknown
}

/** The parts of `GET /status` the tests read (the full shape is src/status/snapshot.ts StatusSnapshot). */
export interface StatusJson {
  state: string
  cursor: string | null
  lagSeconds: number | null
  lastPoll: { at: string; outcome: 'ok' | 'error'; httpStatus: number | null; events: number; error?: { code: string; message: string } } | null
  lastExport: { at: string; outcome: 'ok' | 'error'; records: number; error?: { code: string; message: string; retryable: boolean } } | null
  totals: { received: number; exported: number; malformed: number; duplicates: number; rejected?: number }
  apiRequestsLast24h: number
  gapSeconds?: number
  authFailing: boolean
  [key: string]: unknown
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }

/** A log line's level as pino's number (30 when absent or unknown). */
export function levelOf(l: LogLine): number {
  return typeof l.level === 'number' ? l.level : (LEVELS[String(l.level)] ?? 30)
}

/** warn, error or fatal. */
export const isWarning = (l: LogLine): boolean => levelOf(l) >= 40

export interface StateFile {
  version: number
  cursor: string
  /** Window end → base64 of 16-byte keys: read with UidKeyMap.fromBuckets. */
  exportedKeys: Record<string, string>
  lastEventAt?: string
  reaskFrom?: string
  apiRequests?: number[]
  gapSeconds?: number
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  /** ms from the last kill() to the exit (from the start when never signalled). */
  ms: number
}

export interface ReceiverProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Resolves with the ops base URL (http://127.0.0.1:PORT) once the receiver logged it; rejects if it exits first. */
  readonly ready: Promise<string>
  /** Resolves when the process ended. */
  readonly exited: Promise<Exit>
  /** Parsed stderr lines so far. */
  readonly logs: LogLine[]
  /** Raw stderr and stdout so far. */
  stderr(): string
  stdout(): string
  /** GET an ops path: status code and parsed JSON (text when not JSON). */
  ops(path: string): Promise<{ status: number; body: unknown }>
  status(): Promise<StatusJson>
  /** Polls `/status` every `everyMs` until `predicate` holds; rejects with the last snapshot after `timeoutMs`. */
  waitFor(predicate: (s: StatusJson) => boolean, timeoutMs: number, what?: string, everyMs?: number): Promise<StatusJson>
  /** Sends a signal; the exit's `ms` counts from here. */
  kill(signal: NodeJS.Signals): void
  /** Resident set size in kB from /proc/<pid>/status (undefined once gone or off Linux). */
  rssKb(): number | undefined
  /** The state file, parsed; undefined when none was written yet. Throws when it exists but does not parse. */
  readState(): StateFile | undefined
  /** Log lines whose msg matches. */
  logsMatching(re: RegExp): LogLine[]
}

export interface ReceiverProcessOptions {
  /** The full environment for the receiver (on top of a clean process env). */
  env: Record<string, string>
  /** Where state.json lives; also set as RECEIVER_STATE_DIR unless env has it. */
  stateDir: string
  /** Default ['run']. */
  args?: string[]
  /** How long to wait for the ops address line, default 15 s. */
  startTimeoutMs?: number
}

const ADDRESS_RE = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/

export function readStateFile(stateDir: string): StateFile | undefined {
  let text: string
  try {
    text = readFileSync(join(stateDir, 'state.json'), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  return JSON.parse(text) as StateFile
}

export function startReceiver(opts: ReceiverProcessOptions): ReceiverProcess {
  const env = { RECEIVER_STATE_DIR: opts.stateDir, RECEIVER_HTTP_HOST: '127.0.0.1', RECEIVER_HTTP_PORT: '0', ...opts.env }
  const startedAt = Date.now()
  const child = spawn(process.execPath, [MAIN, ...(opts.args ?? ['run'])], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = child.pid
  if (pid === undefined) throw new Error('the receiver did not start')
  let stderr = ''
  let stdout = ''
  let partial = ''
  const logs: LogLine[] = []
  let signalledAt = startedAt
  let opsUrl: string | undefined

  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, ms: Date.now() - signalledAt }))
  })
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ops address within ${opts.startTimeoutMs ?? 15_000} ms; stderr:\n${stderr}`)), opts.startTimeoutMs ?? 15_000)
    const onLine = (line: string): void => {
      const m = ADDRESS_RE.exec(line)
      if (m && opsUrl === undefined) {
        const url = m[1] ?? ''
        opsUrl = url
        clearTimeout(timer)
        resolve(url)
      }
    }
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString('utf8')
      stderr += text
      partial += text
      const lines = partial.split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (line.trim() === '') continue
        try {
          logs.push(JSON.parse(line) as LogLine)
        } catch {
          logs.push({ msg: line, raw: true })
        }
        onLine(line)
      }
    })
    void exited.then((e) => {
      clearTimeout(timer)
      if (opsUrl === undefined) reject(new Error(`the receiver exited (code ${String(e.code)}, signal ${String(e.signal)}) before serving; stderr:\n${stderr}`))
    })
  })
  // A caller that never awaits `ready` (e.g. a start-up that must fail) must not see an unhandled rejection.
  ready.catch(() => undefined)
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')))

  const ops = async (path: string): Promise<{ status: number; body: unknown }> => {
    const base = opsUrl ?? (await ready)
    const res = await request(`${base}${path}`, { headersTimeout: 5_000, bodyTimeout: 5_000 })
    const text = await res.body.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      // not JSON (e.g. /metrics)
    }
    return { status: res.statusCode, body }
  }
  const status = async (): Promise<StatusJson> => {
    const r = await ops('/status')
    if (r.status !== 200) throw new Error(`/status answered ${r.status}`)
    return r.body as StatusJson
  }

  return {
    child,
    pid,
    ready,
    exited,
    logs,
    stderr: () => stderr,
    stdout: () => stdout,
    ops,
    status,
    async waitFor(predicate, timeoutMs, what = 'condition', everyMs = 100) {
      const deadline = Date.now() + timeoutMs
      let last: StatusJson | undefined
      let lastErr: unknown
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`waiting for ${what}: the receiver exited (${String(child.exitCode ?? child.signalCode)}); stderr tail:\n${stderr.slice(-3000)}`)
        }
        try {
          last = await status()
          if (predicate(last)) return last
        } catch (err) {
          lastErr = err
        }
        if (Date.now() > deadline) {
          throw new Error(`waiting for ${what}: not within ${timeoutMs} ms; last /status: ${JSON.stringify(last)}${lastErr instanceof Error ? `; last error: ${lastErr.message}` : ''}`)
        }
        await new Promise((r) => setTimeout(r, everyMs))
      }
    },
    kill(signal) {
      signalledAt = Date.now()
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, signal)
    },
    rssKb() {
      try {
        const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
        return m ? Number(m[1]) : undefined
      } catch {
        return undefined
      }
    },
    readState: () => readStateFile(opts.stateDir),
    logsMatching: (re) => logs.filter((l) => re.test(typeof l.msg === 'string' ? l.msg : '')),
  }
}
