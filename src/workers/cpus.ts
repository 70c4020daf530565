/**
 * How many worker threads RECEIVER_WORKERS=auto means: the CPUs this process may use. In a container, Node's
 * availableParallelism() counts the node's CPUs, not the pod's limit (a 1-CPU pod on a 16-core node would start 16
 * threads that share one CPU), so the cgroup's CPU quota is read too (v2 cpu.max, v1 cpu.cfs_quota_us / period).
 */
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

const CGROUP_V2 = '/sys/fs/cgroup/cpu.max'
const CGROUP_V1 = ['/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/cpu/cpu.cfs_period_us'] as const

/** At most this many threads by default: past it, memory grows faster than a window is read (one SIEM connection). */
export const AUTO_WORKERS_MAX = 4

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** CPUs a cgroup quota allows (rounded up), or undefined when there is none or it cannot be read. */
export function cgroupCpuLimit(read: (path: string) => string | undefined = readText): number | undefined {
  const v2 = read(CGROUP_V2)?.trim().split(/\s+/)
  let quota: number
  let period: number
  if (v2 !== undefined) {
    if (v2[0] === 'max') return undefined
    quota = Number(v2[0])
    period = Number(v2[1] ?? 100_000)
  } else {
    quota = Number(read(CGROUP_V1[0])?.trim())
    period = Number(read(CGROUP_V1[1])?.trim())
  }
  if (!(quota > 0) || !(period > 0)) return undefined // -1 (v1: no quota), or unreadable
  return Math.max(1, Math.ceil(quota / period))
}

/** The CPUs this process may use. */
export function cpusAvailable(read?: (path: string) => string | undefined): number {
  const limit = cgroupCpuLimit(read)
  const cpus = availableParallelism()
  return limit === undefined ? cpus : Math.min(cpus, limit)
}

/**
 * Threads for a RECEIVER_WORKERS setting: a number as it is; auto: one per CPU up to AUTO_WORKERS_MAX, none with one
 * CPU (a thread there only adds copies). The SDK's OTLP/JSON path cannot take encoded records: none there either.
 */
export function resolveWorkers(setting: number | 'auto', protocol: string, cpus: () => number = cpusAvailable): { workers: number; why: string } {
  if (protocol === 'http/json') return { workers: 0, why: 'OTLP/JSON is encoded by the SDK in the main thread' }
  if (setting !== 'auto') return { workers: setting, why: 'RECEIVER_WORKERS' }
  const n = cpus()
  return n < 2 ? { workers: 0, why: `auto: ${n} CPU available` } : { workers: Math.min(n, AUTO_WORKERS_MAX), why: `auto: ${n} CPUs available` }
}
