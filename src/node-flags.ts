/**
 * The Node.js options the receiver is launched with, by Node.js major (the image's ENTRYPOINT for the image's Node,
 * `npm start` and `npm run demo` for the Node that runs them; the benchmark starts its receivers the same way, and
 * a project test keeps them in step).
 *
 * Node 24's V8 lets the main thread's young generation grow to 128 MB in a process that keeps objects alive across
 * scavenges, as the receiver does while a big window streams (Node 20 and 22 stop at 32 MB): measured on a 300k-event
 * window without threads (what a 1-CPU pod runs), peak RSS 348–356 MB against 255–256 MB with the cap (212 MB on
 * Node 20). V8 reads its limit when a heap is made, so the code cannot set it for itself.
 *
 * The cap is `--scavenger-max-new-space-capacity-mb=8` (one semi-space's capacity; without pointer compression, as
 * Node builds, V8 doubles it: two 16 MB semi-spaces, Node 20's default). It sets only the default, so the worker
 * threads keep the smaller young generation the pool gives them (pool.ts). `--max-semi-space-size=16`, which caps the
 * main thread as well, overrides every isolate's limit: each thread's young generation went from 8 to 32 MB, up to
 * +25 MB of peak RSS per thread (measured at 300k events on Node 24 with 2 threads: 297–317 MB against 320–365).
 * Node 20 does not know the scavenger option (and refuses to start with it); it needs none.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The first Node.js major whose young generation grows past Node 20's without an option. */
const GROWING_YOUNG_GENERATION = 24

const CAP = '--scavenger-max-new-space-capacity-mb=8'

function major(nodeVersion: string): number {
  return Number(/^v?(\d+)\./.exec(nodeVersion)?.[1] ?? 0)
}

/**
 * The environment the receiver is started with (the image's ENV, `npm start`, the benchmark's receivers), unless the
 * operator set the variable: one malloc arena. glibc gives each thread that allocates an arena of its own (up to 8 per
 * core), and the main thread, the worker threads, V8's helpers and libuv's pool each hold freed memory in theirs.
 * Measured at 300k events with 2 threads, peak RSS: Node 24 (the image's) 287–297 MB against 315–328 without (five
 * and seven runs; 298–310 with 2 arenas), Node 20 255–260 against 273–280, at the same speed. Other C libraries (musl)
 * ignore the variable.
 */
export const LAUNCH_ENV = { MALLOC_ARENA_MAX: '1' } as const

/**
 * What to tell the operator about malloc arenas, or undefined: said when the process runs on glibc and was started
 * without MALLOC_ARENA_MAX (by hand: the image and npm start set LAUNCH_ENV). glibc reads it at start only.
 */
export function mallocArenaAdvice(env: NodeJS.ProcessEnv, glibc: boolean): string | undefined {
  if (!glibc || env.MALLOC_ARENA_MAX !== undefined) return undefined
  return (
    'started without MALLOC_ARENA_MAX=1: glibc gives every thread its own malloc arena, 20-30 MB more peak memory on a ' +
    'big window with worker threads; start it as `MALLOC_ARENA_MAX=1 node dist/src/main.js` (the image and npm start do)'
  )
}

/** Whether this process's C library is glibc (whose malloc reads MALLOC_ARENA_MAX): Node's report names its version. */
export function onGlibc(): boolean {
  const report = process.report.getReport() as { header?: { glibcVersionRuntime?: unknown } }
  return typeof report.header?.glibcVersionRuntime === 'string'
}

/** The options to start the receiver with on this Node.js version (`process.version`'s form). */
export function nodeFlags(nodeVersion: string): string[] {
  return major(nodeVersion) >= GROWING_YOUNG_GENERATION ? [CAP] : []
}

function optionName(arg: string): string {
  return arg.split('=', 1)[0]!.replace(/_/g, '-')
}

/**
 * What to tell the operator about the young generation, or undefined when there is nothing to say (the image,
 * `npm start`, Node 20 and 22 started plainly):
 * - a Node.js whose young generation can grow, started without the cap (`node dist/src/main.js run` by hand, the
 *   npm bin) and without a size of the operator's own;
 * - `--max-semi-space-size` on the command line or in NODE_OPTIONS, on any version: it also sizes every worker
 *   thread's young generation.
 */
export function youngGenerationAdvice(nodeVersion: string, execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const options = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter(Boolean).map(optionName)
  if (options.includes('--max-semi-space-size')) {
    return (
      '--max-semi-space-size applies to every worker thread too (RECEIVER_WORKERS), overriding their 8 MB young generation: ' +
      `each thread's grows to twice that size; to cap only the main thread's, use ${CAP} (Node 22 and later) instead`
    )
  }
  const flags = nodeFlags(nodeVersion)
  if (flags.length === 0 || options.includes(optionName(CAP))) return undefined
  return (
    `node ${nodeVersion} was started without ${flags.join(' ')}: its young generation can grow to 128 MB, ` +
    `about 100 MB more peak memory on a big window; start it as \`node ${flags.join(' ')} dist/src/main.js\` (the image and npm start do)`
  )
}

/** nodeFlags, when this node accepts them: a later Node.js whose V8 dropped the option would refuse to start with it. */
export function acceptedNodeFlags(execPath: string, nodeVersion: string): string[] {
  const flags = nodeFlags(nodeVersion)
  if (flags.length === 0) return flags
  const probe = spawnSync(execPath, [...flags, '-e', '0'], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } })
  return probe.status === 0 ? flags : []
}

// `node dist/src/node-flags.js` prints this Node's options, for the npm scripts: `node $(node dist/src/node-flags.js) …`.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) process.stdout.write(acceptedNodeFlags(process.execPath, process.version).join(' '))
