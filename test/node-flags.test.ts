import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { acceptedNodeFlags, LAUNCH_ENV, mallocArenaAdvice, nodeFlags, onGlibc, youngGenerationAdvice } from '../src/node-flags.js'
import { WORKER_RESOURCE_LIMITS } from '../src/workers/pool.js'

const run = promisify(execFile)
const ROOT = new URL('../../', import.meta.url)
const CAP = '--scavenger-max-new-space-capacity-mb=8'
/** This Node first on the PATH, as npm runs scripts (the `node` inside `$(…)` must be this one). */
const ENV = { ...process.env, NODE_OPTIONS: '', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` }

t.test('nodeFlags: the cap on Node 24 and later only (Node 20 refuses the option, 20 and 22 need none)', async (t) => {
  t.same(nodeFlags('v20.20.2'), [])
  t.same(nodeFlags('v22.22.0'), [])
  t.same(nodeFlags('v24.17.0'), [CAP])
  t.same(nodeFlags('v26.1.0'), [CAP])
})

t.test('acceptedNodeFlags: none from a node that refuses them (a later V8 without the option), so npm start still starts', async (t) => {
  t.same(acceptedNodeFlags(process.execPath, process.version), nodeFlags(process.version), `${process.version} accepts its own`)
  // Node 20 refuses the scavenger option: asked as if it were Node 24, it gives none.
  if (Number(process.versions.node.split('.')[0]) < 22) t.same(acceptedNodeFlags(process.execPath, 'v24.0.0'), [], 'refused: none')
  // A "node" that refuses every option.
  t.same(acceptedNodeFlags('/bin/false', 'v24.0.0'), [], 'refused: none')
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
  t.equal(youngGenerationAdvice('v20.20.2', [], undefined), undefined, 'Node 20: its default is the cap')
  t.equal(youngGenerationAdvice('v22.22.0', [], ''), undefined, 'Node 22 likewise')
  const advice = youngGenerationAdvice('v24.17.0', [], undefined)
  t.match(advice, /without --scavenger-max-new-space-capacity-mb=8: .*128 MB.*node --scavenger-max-new-space-capacity-mb=8 dist\/src\/main\.js/, 'Node 24 without it: what and how')
  t.ok(youngGenerationAdvice('v26.0.0', ['--enable-source-maps'], '--require ./x.js'), 'later majors too, other options do not count')
  t.equal(youngGenerationAdvice('v24.17.0', nodeFlags('v24.17.0'), undefined), undefined, 'started as the image starts it')
  t.equal(youngGenerationAdvice('v24.17.0', ['--scavenger_max_new_space_capacity_mb=16'], undefined), undefined, "a cap of the operator's own, V8's spelling")
  for (const [argv, opts, where] of [
    [['--max_semi_space_size=16'], undefined, 'on the command line, V8 spelling'],
    [[], '--enable-source-maps --max-semi-space-size=8', 'in NODE_OPTIONS'],
  ] as const) {
    for (const version of ['v20.20.2', 'v24.17.0']) {
      t.match(youngGenerationAdvice(version, argv, opts), /--max-semi-space-size applies to every worker thread too .* use --scavenger-max-new-space-capacity-mb=8/, `${version}, --max-semi-space-size ${where}: it sizes the threads too`)
    }
  }
})

t.test("npm start and npm run demo start node with nodeFlags of the Node that runs them, and LAUNCH_ENV unless the operator's own", async (t) => {
  const scripts = (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: Record<string, string> }).scripts
  const names = Object.keys(LAUNCH_ENV) as Array<keyof typeof LAUNCH_ENV>
  const unset: NodeJS.ProcessEnv = { ...ENV }
  for (const k of names) delete unset[k]
  const cases: Array<{ env: NodeJS.ProcessEnv; want: Record<string, string>; label: string }> = [
    { env: unset, want: LAUNCH_ENV, label: 'not set before' },
    { env: { ...unset, MALLOC_ARENA_MAX: '4' }, want: { MALLOC_ARENA_MAX: '4' }, label: "the operator's own kept" },
  ]
  for (const [name, command] of [['start', 'run'], ['demo', 'demo']] as const) {
    // The receiver's node is the one whose options come from `$(…)`; it execs node itself (no npm or shell left).
    const head = /(?:^|\s)node (?=\$\(node dist\/src\/node-flags\.js\))/
    t.match(scripts[name], head, `${name} runs node itself`)
    // The script through sh, as npm runs it, with that node printing the launch variables and its arguments instead.
    const printer = `sh -c 'printf "%s\\n" ${names.map((k) => `"${k}=$${k}"`).join(' ')} "$@"' -- `
    for (const { env, want, label } of cases) {
      const { stdout } = await run('sh', ['-c', scripts[name]!.replace(head, (m) => m.replace('node ', printer))], { cwd: ROOT, env })
      const lines = stdout.split('\n').filter(Boolean)
      t.same(lines.slice(0, names.length), names.map((k) => `${k}=${want[k]}`), `${name}: the launch environment (${label})`)
      t.same(lines.slice(names.length), [...nodeFlags(process.version), 'dist/src/main.js', command], `${name}: ${process.version}'s options, then the receiver`)
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

t.test(`nodeFlags hold the main thread at two 16 MB semi-spaces and leave the threads theirs (${process.version})`, async (t) => {
  const { main, thread } = await youngGenerations(nodeFlags(process.version))
  t.ok(main > 0 && main <= 32, `main thread: new space ${main.toFixed(1)} MB (at most 32)`)
  t.ok(thread > 0 && thread <= WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb + 1, `worker thread: new space ${thread.toFixed(1)} MB (its limit ${WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb} MB)`)
})

t.test('why not --max-semi-space-size: it overrides the threads\' limit', async (t) => {
  const { thread } = await youngGenerations(['--max-semi-space-size=16'])
  t.ok(thread > 16, `worker thread: new space ${thread.toFixed(1)} MB, past its ${WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb} MB limit`)
})
