/** The receiver's command line in a child process that is killed (SIGKILL) when it has not exited within a bound. */
import { spawn } from 'node:child_process'
import { MAIN, cleanEnv } from './child.js'
import type { Run } from './child.js'

/**
 * Runs `main.js args` with a clean environment plus `env`. A child still running after `boundMs` is killed with
 * SIGKILL (a hung start-up ignores SIGTERM: it waits for the start to finish), so a hang shows as `signal: 'SIGKILL'`
 * instead of a test that never ends.
 */
export function runBounded(args: string[], env: Record<string, string>, boundMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], timeout: boundMs, killSignal: 'SIGKILL' })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}
