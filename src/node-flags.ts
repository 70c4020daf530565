/**
 * The Node.js options the receiver is launched with, by Node.js major and by whether it runs worker threads (the image's
 * ENTRYPOINT, `npm start` and `npm run demo` ask `node dist/src/node-flags.js [COMMAND] [--config FILE]`, which resolves
 * the threads as the receiver will; the benchmark starts its receivers the same way).
 *
 * Both are about the main thread's young generation. V8 reads its size when a heap is made, so the code cannot set it
 * for itself:
 * - With worker threads, `--max-semi-space-size=4`: an 8 MB young generation for the main thread, which then only
 *   frames, deduplicates and exports. With the default 32 MB (Node 20 and 22; Node 24: up to 128 MB), V8's old
 *   generation has less headroom (~24 MB after a window) than the new space's capacity, and V8 starts a full collection
 *   again and again: ~50 per 100k-event window. Measured with 2 threads (npm run bench at f914519 against f5efe58,
 *   bench/README.md): one 300k window at the same speed, peak RSS 245 against 261 MB on Node 20 and 269 against 294 MB
 *   on Node 24; a catch-up of three 100k windows 0-11 % faster on Node 20 and 19-25 % on Node 24, 20-30 MB smaller,
 *   a few major collections per window instead of ~50. A semi-space size on the command line
 *   overrides every isolate's, the threads' included: 4 MB gives them the 8 MB the pool asks for (WORKER_RESOURCE_LIMITS,
 *   a test keeps the two in step).
 * - Without threads (RECEIVER_WORKERS=0, auto on one CPU, the demo), the main thread maps every event: 8 MB made it
 *   12-16 % slower on a 300k window (more is promoted). There Node 24 alone needs
 *   `--scavenger-max-new-space-capacity-mb=8` (one semi-space's capacity; V8 doubles it without pointer compression, as
 *   Node builds: Node 20's two 16 MB semi-spaces): its V8 lets the young generation grow to 128 MB in a process that
 *   keeps objects alive across scavenges, peak RSS 348-356 MB against 255 MB on a 300k window. Node 20 does not know
 *   the option (and refuses to start with it); 20 and 22 need nothing.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULT_OTLP_PROTOCOL } from './config/defaults.js'

/** The first Node.js major whose young generation grows past Node 20's without an option. */
const GROWING_YOUNG_GENERATION = 24

const CAP = '--scavenger-max-new-space-capacity-mb=8'
/** The worker threads' own young generation (WORKER_RESOURCE_LIMITS: 8 MB) is two of these semi-spaces. */
const THREADS_SEMI_SPACE_MB = 4
const SEMI_SPACE = `--max-semi-space-size=${THREADS_SEMI_SPACE_MB}`

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

/** The options to start the receiver with on this Node.js version (`process.version`'s form), with `workers` threads. */
export function nodeFlags(nodeVersion: string, workers: number): string[] {
  if (workers > 0) return [SEMI_SPACE]
  return major(nodeVersion) >= GROWING_YOUNG_GENERATION ? [CAP] : []
}

function optionName(arg: string): string {
  return arg.split('=', 1)[0]!.replace(/_/g, '-')
}

/** The young-generation options among node's options (`--x=v`, or `--x v` as V8 also reads them), by name: their text. */
function youngGenerationOptions(args: readonly string[]): Map<string, string> {
  const found = new Map<string, string>()
  for (const [i, arg] of args.entries()) {
    const name = optionName(arg)
    if (name !== optionName(SEMI_SPACE) && name !== optionName(CAP)) continue
    const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : (args[i + 1] ?? '')
    found.set(name, `${name}=${value}`)
  }
  return found
}

/**
 * What to tell the operator about the young generation, or undefined when there is nothing to say (started as the
 * image and `npm start` start it, or with a size of the operator's own):
 * - `--max-semi-space-size` larger than the threads' with worker threads running: it sizes every thread too;
 * - started without the options nodeFlags gives for the threads it runs (`node dist/src/main.js run` by hand, the npm
 *   bin), or with the ones meant for another number of threads (RECEIVER_WORKERS in a --config file `npm start` did
 *   not see).
 */
export function youngGenerationAdvice(nodeVersion: string, execArgv: readonly string[], nodeOptions: string | undefined, workers: number): string | undefined {
  const given = youngGenerationOptions([...execArgv, ...(nodeOptions ?? '').split(/\s+/).filter(Boolean)])
  const semiSpace = given.get(optionName(SEMI_SPACE))
  const semiSpaceMb = semiSpace === undefined ? undefined : Number(semiSpace.slice(semiSpace.indexOf('=') + 1))
  if (workers > 0 && semiSpaceMb !== undefined && !(semiSpaceMb <= THREADS_SEMI_SPACE_MB)) {
    return (
      `${semiSpace} applies to every worker thread too (RECEIVER_WORKERS), overriding their 8 MB young generation: ` +
      `each thread's grows to ${2 * semiSpaceMb} MB; start it with ${SEMI_SPACE} (what the image and npm start use with threads)`
    )
  }
  const want = nodeFlags(nodeVersion, workers)
  const threads = workers > 0 ? `${workers} worker thread${workers === 1 ? '' : 's'}` : 'no worker threads'
  const how = `start it as \`node ${[...want, 'dist/src/main.js'].join(' ')}\` (the image and npm start choose it from RECEIVER_WORKERS and the CPUs)`
  if (given.size > 0) {
    const flags = [...given.values()]
    const ours = new Set<string>([SEMI_SPACE, CAP])
    // The operator's own sizes are theirs to choose; ours, chosen for another number of threads, are not.
    if (!flags.every((flag) => ours.has(flag))) return undefined
    if (flags.length === want.length && want.every((flag) => given.get(optionName(flag)) === flag)) return undefined
    return `node was started with ${flags.join(' ')}, chosen for ${workers > 0 ? 'no worker threads' : 'worker threads'}, but it runs ${threads}; ${how}`
  }
  if (want.length === 0) return undefined
  if (workers > 0) {
    return (
      `node was started without ${SEMI_SPACE} and runs ${threads}: the main thread's larger young generation leaves V8's old ` +
      `generation too little room, ~50 full collections per 100k-event window, up to 25 % slower in a catch-up and 15-30 MB more peak memory; ${how}`
    )
  }
  return `node ${nodeVersion} was started without ${CAP}: its young generation can grow to 128 MB, about 100 MB more peak memory on a big window; ${how}`
}

/** nodeFlags, when this node accepts them: a later Node.js whose V8 dropped an option would refuse to start with it. */
export function acceptedNodeFlags(execPath: string, nodeVersion: string, workers: number): string[] {
  const flags = nodeFlags(nodeVersion, workers)
  if (flags.length === 0) return flags
  const probe = spawnSync(execPath, [...flags, '-e', '0'], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } })
  return probe.status === 0 ? flags : []
}

/**
 * The worker threads the receiver will run for these arguments (main.ts's) and environment: `run` resolves
 * RECEIVER_WORKERS as the app does (from the environment and the --config file); the other commands run none (the
 * demo prints records from the main thread, check-config and map read no window). An invalid configuration counts as
 * the default: the receiver refuses it and says why.
 */
export async function launchWorkers(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: { config: { type: 'string' } } })
  if ((positionals[0] ?? 'run') !== 'run') return 0
  const [{ loadConfig }, { resolveWorkers }] = await Promise.all([import('./config/index.js'), import('./workers/cpus.js')])
  try {
    const { config } = loadConfig({ env, requireCredentials: false, ...(typeof values.config === 'string' ? { configFile: values.config } : {}) })
    return resolveWorkers(config.receiver.workers, config.otel.protocol).workers
  } catch {
    return resolveWorkers('auto', DEFAULT_OTLP_PROTOCOL).workers
  }
}

// `node dist/src/node-flags.js [COMMAND] [--config FILE]` prints the options to start the receiver with, for the npm
// scripts and the image: `node $(node dist/src/node-flags.js run) dist/src/main.js run`.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const workers = await launchWorkers(process.argv.slice(2), process.env)
  process.stdout.write(acceptedNodeFlags(process.execPath, process.version, workers).join(' '))
}
