import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { acceptedNodeFlags, LAUNCH_ENV, launchWorkers, mallocArenaAdvice, nodeFlags, onGlibc, youngGenerationAdvice } from '../src/node-flags.js'
import { resolveWorkers } from '../src/workers/cpus.js'
import { WORKER_RESOURCE_LIMITS } from '../src/workers/pool.js'

const run = promisify(execFile)
const ROOT = new URL('../../', import.meta.url)
const CAP = '--scavenger-max-new-space-capacity-mb=8'
const SEMI = '--max-semi-space-size=4'
/** This Node first on the PATH, as npm runs scripts (the `node` inside `$(…)` must be this one). */
const ENV = { ...process.env, NODE_OPTIONS: '', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }

t.test('nodeFlags: with worker threads the semi-space for every Node; without, the cap on Node 24 and later only', async (t) => {
  for (const version of ['v20.20.2', 'v22.22.0', 'v24.17.0', 'v26.1.0']) {
    t.same(nodeFlags(version, 2), [SEMI], `${version}, threads`)
    t.same(nodeFlags(version, 1), [SEMI], `${version}, one thread`)
  }
  t.same(nodeFlags('v20.20.2', 0), [], 'Node 20 without threads: its default (and it refuses the cap)')
  t.same(nodeFlags('v22.22.0', 0), [], 'Node 22 likewise')
  t.same(nodeFlags('v24.17.0', 0), [CAP])
  t.same(nodeFlags('v26.1.0', 0), [CAP])
})

t.test('acceptedNodeFlags: none from a node that refuses them (a later V8 without the option), so npm start still starts', async (t) => {
  for (const workers of [0, 2]) t.same(acceptedNodeFlags(process.execPath, process.version, workers), nodeFlags(process.version, workers), `${process.version} accepts its own (${workers} threads)`)
  // Node 20 refuses the scavenger option: asked as if it were Node 24, it gives none.
  if (Number(process.versions.node.split('.')[0]) < 22) t.same(acceptedNodeFlags(process.execPath, 'v24.0.0', 0), [], 'refused: none')
  // A "node" that refuses every option.
  t.same(acceptedNodeFlags('/bin/false', 'v24.0.0', 2), [], 'refused: none')
})

t.test('launchWorkers: the threads `run` will resolve, from the environment and the --config file; none for the other commands', async (t) => {
  const dir = t.testdir({ 'none.json': JSON.stringify({ RECEIVER_WORKERS: 0 }), 'three.yaml': 'RECEIVER_WORKERS: 3\n' })
  const env = { PATH: process.env.PATH }
  const auto = resolveWorkers('auto', 'http/protobuf').workers
  t.equal(await launchWorkers([], env), auto, 'no command: run, with RECEIVER_WORKERS=auto')
  t.equal(await launchWorkers(['run'], { ...env, RECEIVER_WORKERS: '3' }), 3, 'RECEIVER_WORKERS')
  t.equal(await launchWorkers(['run', '--config', join(dir, 'none.json')], env), 0, '--config FILE')
  t.equal(await launchWorkers(['--config', join(dir, 'three.yaml'), 'run'], env), 3, '--config FILE before the command')
  t.equal(await launchWorkers(['run'], { ...env, RECEIVER_CONFIG_FILE: join(dir, 'none.json') }), 0, 'RECEIVER_CONFIG_FILE')
  t.equal(await launchWorkers(['run', '--config', join(dir, 'none.json')], { ...env, RECEIVER_WORKERS: '3' }), 3, 'the environment wins, as in the receiver')
  t.equal(await launchWorkers(['run'], { ...env, RECEIVER_WORKERS: '2', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), 0, 'OTLP/JSON: the SDK encodes in the main thread')
  t.equal(await launchWorkers(['run'], { ...env, RECEIVER_WORKERS: 'banana' }), auto, 'an invalid configuration: the default (the receiver refuses it and says why)')
  t.equal(await launchWorkers(['run', '--config', join(dir, 'missing.json')], env), auto, 'a config file that cannot be read: likewise')
  for (const command of ['demo', 'check-config', 'map']) t.equal(await launchWorkers([command], { ...env, RECEIVER_WORKERS: '3' }), 0, `${command}: no threads`)
})

t.test('mallocArenaAdvice: on glibc without MALLOC_ARENA_MAX only', async (t) => {
  t.match(mallocArenaAdvice({}, true), /without MALLOC_ARENA_MAX=1: .*own malloc arena.*MALLOC_ARENA_MAX=1 node dist\/src\/main\.js/, 'what and how')
  t.equal(mallocArenaAdvice({ MALLOC_ARENA_MAX: '1' }, true), undefined, 'started as the image starts it')
  t.equal(mallocArenaAdvice({ MALLOC_ARENA_MAX: '8' }, true), undefined, "the operator's own value")
  t.equal(mallocArenaAdvice({}, false), undefined, 'musl and others ignore the variable')
  // This machine's Node reports its C library; the image and CI run Debian (glibc).
  t.equal(onGlibc(), process.platform === 'linux' && typeof (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime === 'string')
})

t.test('youngGenerationAdvice', async (t) => {
  t.equal(youngGenerationAdvice('v20.20.2', [], undefined, 0), undefined, 'Node 20 without threads: its default is the cap')
  t.equal(youngGenerationAdvice('v22.22.0', [], '', 0), undefined, 'Node 22 likewise')
  t.match(youngGenerationAdvice('v24.17.0', [], undefined, 0), /without --scavenger-max-new-space-capacity-mb=8: .*128 MB.*`node --scavenger-max-new-space-capacity-mb=8 dist\/src\/main\.js`/, 'Node 24 without threads and without the cap: what and how')
  t.ok(youngGenerationAdvice('v26.0.0', ['--enable-source-maps'], '--require ./x.js', 0), 'later majors too, other options do not count')
  for (const version of ['v20.20.2', 'v24.17.0']) {
    t.match(youngGenerationAdvice(version, [], undefined, 2), /without --max-semi-space-size=4 and runs 2 worker threads: .*full collections.*`node --max-semi-space-size=4 dist\/src\/main\.js`/, `${version} with threads, started without the semi-space: what and how`)
    for (const workers of [0, 1, 4]) t.equal(youngGenerationAdvice(version, nodeFlags(version, workers), undefined, workers), undefined, `${version}, ${workers} threads, started as the image starts it`)
  }
  t.equal(youngGenerationAdvice('v24.17.0', ['--scavenger_max_new_space_capacity_mb=16'], undefined, 0), undefined, "a cap of the operator's own, V8's spelling")
  t.equal(youngGenerationAdvice('v24.17.0', [], '--max-semi-space-size=2', 2), undefined, "a smaller semi-space of the operator's own")
  t.equal(youngGenerationAdvice('v20.20.2', ['--max-semi-space-size=16'], undefined, 0), undefined, "the operator's own semi-space without threads")
  // Ours, chosen for another number of threads (RECEIVER_WORKERS in a config file npm start did not see).
  t.match(youngGenerationAdvice('v20.20.2', [SEMI], undefined, 0), /started with --max-semi-space-size=4, chosen for worker threads, but it runs no worker threads; start it as `node dist\/src\/main\.js`/)
  t.match(youngGenerationAdvice('v24.17.0', [CAP], undefined, 1), /started with --scavenger-max-new-space-capacity-mb=8, chosen for no worker threads, but it runs 1 worker thread; start it as `node --max-semi-space-size=4 dist\/src\/main\.js`/)
  for (const [argv, opts, where, size] of [
    [['--max_semi_space_size=16'], undefined, 'on the command line, V8 spelling', 32],
    [[], '--enable-source-maps --max-semi-space-size 8', 'in NODE_OPTIONS, the value apart', 16],
  ] as const) {
    for (const version of ['v20.20.2', 'v24.17.0']) {
      t.match(youngGenerationAdvice(version, argv, opts, 2), new RegExp(`^--max-semi-space-size=\\d+ applies to every worker thread too .* grows to ${size} MB; start it with --max-semi-space-size=4`), `${version}, --max-semi-space-size ${where}: it sizes the threads too`)
    }
  }
})

t.test("npm start and npm run demo start node with nodeFlags for their threads, and LAUNCH_ENV unless the operator's own", async (t) => {
  const scripts = (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: Record<string, string> }).scripts
  const names = Object.keys(LAUNCH_ENV) as Array<keyof typeof LAUNCH_ENV>
  const unset: NodeJS.ProcessEnv = { ...ENV }
  for (const k of names) delete unset[k]
  const cases: Array<{ env: NodeJS.ProcessEnv; want: Record<string, string>; label: string }> = [
    { env: unset, want: LAUNCH_ENV, label: 'not set before' },
    { env: { ...unset, MALLOC_ARENA_MAX: '4' }, want: { MALLOC_ARENA_MAX: '4' }, label: "the operator's own kept" },
  ]
  for (const [name, command] of [['start', 'run'], ['demo', 'demo']] as const) {
    // The receiver's node is the one whose options come from `$(…)` for the same command; it execs node itself (no
    // npm or shell left).
    const head = new RegExp(`(?:^|\\s)node (?=\\$\\(node dist/src/node-flags\\.js ${command}\\) dist/src/main\\.js ${command}$)`)
    t.match(scripts[name], head, `${name} runs node itself, with the options for ${command}`)
    // The script through sh, as npm runs it, with that node printing the launch variables and its arguments instead.
    const printer = `sh -c 'printf "%s\\n" ${names.map((k) => `"${k}=$${k}"`).join(' ')} "$@"' -- `
    for (const { env, want, label } of cases) {
      for (const workers of [0, 2]) {
        const { stdout } = await run('sh', ['-c', scripts[name]!.replace(head, (m) => m.replace('node ', printer))], { cwd: ROOT, env: { ...env, RECEIVER_WORKERS: String(workers) } })
        const lines = stdout.split('\n').filter(Boolean)
        t.same(lines.slice(0, names.length), names.map((k) => `${k}=${want[k]}`), `${name}: the launch environment (${label})`)
        // The demo prints records from the main thread: no threads, whatever RECEIVER_WORKERS says.
        const threads = command === 'run' ? workers : 0
        t.same(lines.slice(names.length), [...nodeFlags(process.version, threads), 'dist/src/main.js', command], `${name}, RECEIVER_WORKERS=${workers}: ${process.version}'s options for ${threads} threads, then the receiver`)
      }
    }
  }
})

// A thread that keeps objects alive across scavenges, as a receiver does while a window streams: the new space it
// ends with (Node 24's main thread without the cap: 128 MB).
const SURVIVOR_LOAD = `
const v8 = require('node:v8')
let keep = []
for (let r = 0; r < 3; r++) for (let i = 0; i < 2e6; i++) { const o = { a: i, b: 'x' + i }; if (i % 10 === 0) keep.push(o); if (keep.length > 2e5) keep = [] }
const newSpace = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space').space_size`

/** The new space (MB) of the main thread and of a worker thread with the pool's limits, in a node started with `flags`. */
async function youngGenerations(flags: readonly string[]): Promise<{ main: number; thread: number }> {
  const script = `
const { Worker } = require('node:worker_threads')
${SURVIVOR_LOAD}
const w = new Worker(${JSON.stringify(`${SURVIVOR_LOAD}\nrequire('node:worker_threads').parentPort.postMessage(newSpace)`)}, { eval: true, resourceLimits: ${JSON.stringify(WORKER_RESOURCE_LIMITS)} })
w.on('message', (thread) => { process.stdout.write(JSON.stringify({ main: newSpace / 2 ** 20, thread: thread / 2 ** 20 })); w.terminate() })`
  const { stdout } = await run(process.execPath, [...flags, '-e', script], { env: ENV })
  return JSON.parse(stdout) as { main: number; thread: number }
}

t.test(`nodeFlags without threads hold the main thread at two 16 MB semi-spaces and leave the threads theirs (${process.version})`, async (t) => {
  const { main, thread } = await youngGenerations(nodeFlags(process.version, 0))
  t.ok(main > 0 && main <= 32, `main thread: new space ${main.toFixed(1)} MB (at most 32)`)
  t.ok(thread > 0 && thread <= WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb + 1, `worker thread: new space ${thread.toFixed(1)} MB (its limit ${WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb} MB)`)
})

t.test(`nodeFlags with threads give the main thread the threads' young generation, and the threads exactly theirs (${process.version})`, async (t) => {
  const plain = await youngGenerations([])
  const { main, thread } = await youngGenerations(nodeFlags(process.version, 2))
  t.equal(thread, plain.thread, `worker thread: new space ${thread.toFixed(1)} MB, as without the option (WORKER_RESOURCE_LIMITS and the semi-space in step)`)
  t.ok(main > 0 && main <= thread, `main thread: new space ${main.toFixed(1)} MB (without the option ${plain.main.toFixed(1)})`)
  t.ok(main < plain.main, 'smaller than without it')
})

t.test('why not a larger --max-semi-space-size: it overrides the threads\' limit', async (t) => {
  const { thread } = await youngGenerations(['--max-semi-space-size=16'])
  t.ok(thread > 16, `worker thread: new space ${thread.toFixed(1)} MB, past its ${WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb} MB limit`)
})
