import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import t from 'tap'
import { NODE_FLAGS, youngGenerationAdvice } from '../src/node-flags.js'

const run = promisify(execFile)
const ROOT = new URL('../../', import.meta.url)

t.test('youngGenerationAdvice: only a Node.js whose young generation grows, started without a size of its own', async (t) => {
  t.equal(youngGenerationAdvice('v20.20.2', [], undefined), undefined, 'Node 20: its default is the cap')
  t.equal(youngGenerationAdvice('v22.22.0', [], ''), undefined, 'Node 22 likewise')
  const advice = youngGenerationAdvice('v24.17.0', [], undefined)
  t.match(advice, /without --max-semi-space-size=16: .*128 MB.*node --max-semi-space-size=16 dist\/src\/main\.js/, 'Node 24 without it: what and how')
  t.ok(youngGenerationAdvice('v26.0.0', ['--enable-source-maps'], '--require ./x.js'), 'later majors too, other options do not count')
  t.equal(youngGenerationAdvice('v24.17.0', [...NODE_FLAGS], undefined), undefined, 'started as the image starts it')
  t.equal(youngGenerationAdvice('v24.17.0', ['--max_semi_space_size=64'], undefined), undefined, "the operator's own size, V8's spelling")
  t.equal(youngGenerationAdvice('v24.17.0', [], '--enable-source-maps --max-semi-space-size=8'), undefined, 'in NODE_OPTIONS')
})

t.test('npm start and npm run demo start node with NODE_FLAGS', async (t) => {
  const scripts = (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: Record<string, string> }).scripts
  for (const name of ['start', 'demo']) t.match(scripts[name], `node ${NODE_FLAGS.join(' ')} dist/src/main.js `, name)
})

// A process that keeps objects alive across scavenges, as a receiver does while a window streams: the new space it
// ends with (Node 24 without the cap: 128 MB).
const SURVIVOR_LOAD = `
const v8 = require('node:v8')
let keep = []
for (let r = 0; r < 3; r++) for (let i = 0; i < 2e6; i++) { const o = { a: i, b: 'x' + i }; if (i % 10 === 0) keep.push(o); if (keep.length > 2e5) keep = [] }
const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')
process.stdout.write(String(s.space_size))`

t.test('NODE_FLAGS hold the young generation at two 16 MB semi-spaces on this Node.js', async (t) => {
  const { stdout } = await run(process.execPath, [...NODE_FLAGS, '-e', SURVIVOR_LOAD], { env: { ...process.env, NODE_OPTIONS: '' } })
  const mb = Number(stdout) / 2 ** 20
  t.ok(mb > 0 && mb <= 32, `new space ${mb.toFixed(1)} MB (at most 32) on ${process.version}`)
})
