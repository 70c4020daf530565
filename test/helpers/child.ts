/** Running the receiver (or npm) as users do: a child process, its output collected. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

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

/** Runs `command args` to the end; `input` goes to its stdin. */
export function runProcess(
  command: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number },
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
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
