/**
 * Run by pool.test.ts in a child process started with two preloads, one on the command line (`--import`) and one in
 * NODE_OPTIONS: prints whether each ran in this thread, then what a pool thread reports (dying-worker.ts, reportAt).
 */
import { WorkerPool } from '../../src/workers/pool.js'
import { rawOf, mixedTexts } from './raw-events.js'

const marks = globalThis as { psrCliPreload?: boolean; psrEnvPreload?: boolean }
const pool = new WorkerPool({
  size: 1,
  setup: { mapping: { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true } },
  entry: new URL('./dying-worker.js', import.meta.url),
  extraData: { dieAt: [], throwAt: [], reportAt: [0] },
})
const failure = await pool.run(rawOf(mixedTexts(1)), [1_764_000_000, 0]).then(
  () => 'no report',
  (err: unknown) => String(err instanceof Error ? err.message : err),
)
await pool.close()
const thread: unknown = JSON.parse(/REPORT (.*) END/.exec(failure)?.[1] ?? 'null')
process.stdout.write(`${JSON.stringify({ main: { cli: marks.psrCliPreload === true, env: marks.psrEnvPreload === true }, thread })}\n`)
