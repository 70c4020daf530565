/** RECEIVER_WORKERS=auto: the CPUs a container may use (its cgroup quota, not the node's cores), and when threads help. */
import t from 'tap'
import { AUTO_WORKERS_MAX, cgroupCpuLimit, cpusAvailable, resolveWorkers } from '../../src/workers/cpus.js'

const files = (map: Record<string, string>) => (path: string): string | undefined => map[path]

t.test('cgroup v2 cpu.max and v1 cfs quota: CPUs allowed, rounded up; no quota: none', (t) => {
  t.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '150000 100000\n' })), 2, '1.5 CPUs: 2 threads can use them')
  t.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '50000 100000' })), 1, 'half a CPU: one')
  t.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': '400000 100000' })), 4)
  t.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': 'max 100000' })), undefined, 'v2 without a limit')
  t.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '200000', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), 2, 'v1')
  t.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' })), undefined, 'v1 without a limit')
  t.equal(cgroupCpuLimit(files({})), undefined, 'no cgroup files (not Linux, or not mounted)')
  t.equal(cgroupCpuLimit(files({ '/sys/fs/cgroup/cpu.max': 'garbage' })), undefined, 'unreadable: no limit assumed')
  t.equal(cpusAvailable(files({ '/sys/fs/cgroup/cpu.max': '100000 100000' })), 1, 'the quota wins over the node\'s cores')
  t.ok(cpusAvailable(files({})) >= 1, 'no quota: the cores Node sees')
  t.end()
})

t.test('auto: one thread per CPU up to the cap, none on one CPU; a number as set; OTLP/JSON: none', (t) => {
  t.same(resolveWorkers('auto', 'http/protobuf', () => 1), { workers: 0, why: 'auto: 1 CPU available' })
  t.same(resolveWorkers('auto', 'grpc', () => 2), { workers: 2, why: 'auto: 2 CPUs available' })
  t.equal(resolveWorkers('auto', 'http/protobuf', () => 64).workers, AUTO_WORKERS_MAX, 'capped')
  t.same(resolveWorkers(3, 'http/protobuf', () => 1), { workers: 3, why: 'RECEIVER_WORKERS' }, 'an explicit number is taken as it is')
  t.same(resolveWorkers(0, 'http/protobuf', () => 8), { workers: 0, why: 'RECEIVER_WORKERS' })
  t.equal(resolveWorkers(4, 'http/json', () => 8).workers, 0, 'the SDK encodes JSON in the main thread')
  t.end()
})
