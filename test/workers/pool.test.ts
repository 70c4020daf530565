/** The worker pool with real threads: results as in this thread, in parallel, and a thread that dies or fails. */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import type { HrTime } from '../../src/mapping/types.js'
import { batchEncoder, isParseFailure } from '../../src/workers/encode-batch.js'
import type { EncodedBatch, WorkerSetup } from '../../src/workers/encode-batch.js'
import { WorkerPool, threadExecArgv } from '../../src/workers/pool.js'
import { assertBurstLetGo, mixedTexts, rawOf } from './raw-events.js'

const SETUP: WorkerSetup = { mapping: { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true } }
const OBSERVED: HrTime = [1_764_000_000, 0]
const DYING = new URL('./dying-worker.js', import.meta.url)

function dyingPool(t: Test, size: number, cue: { dieAt?: number[]; throwAt?: number[] }): { pool: WorkerPool } {
  const pool = new WorkerPool({ size, setup: SETUP, entry: DYING, extraData: { dieAt: cue.dieAt ?? [], throwAt: cue.throwAt ?? [] } })
  t.teardown(() => pool.close())
  return { pool }
}

t.test('threads give what this thread gives, for batches in flight at once; none start before the first batch', async (t) => {
  const pool = new WorkerPool({ size: 2, setup: SETUP })
  t.teardown(() => pool.close())
  t.equal(pool.threads, 0, 'an idle receiver starts no thread')
  const batches = [10, 30, 50, 70, 90].map((n) => mixedTexts(n))
  const want = batches.map((texts) => batchEncoder(SETUP)(rawOf(texts), OBSERVED) as EncodedBatch)
  const got = await Promise.all(batches.map((texts) => pool.run(rawOf(texts), OBSERVED)))
  t.equal(pool.threads, 2, 'no more threads than asked for')
  got.forEach((g, i) => {
    if (isParseFailure(g)) return t.fail(g.parseError)
    t.same(g.uids, want[i]!.uids, `batch ${i}: keys`)
    t.ok(Buffer.from(g.bytes).equals(Buffer.from(want[i]!.bytes)), `batch ${i}: bytes`)
    t.same(g.malformed, want[i]!.malformed, `batch ${i}: malformed`)
  })
  const raw = rawOf(batches[0]!)
  await pool.run(raw, OBSERVED)
  t.equal(raw.bytes.byteLength, 0, 'the batch was transferred, not copied')
})

t.test('a thread that dies fails its batch with PSR_ERR_WORKER; the others finish and a new thread takes over', async (t) => {
  const { pool } = dyingPool(t, 2, { dieAt: [1] })
  const runs = [0, 1, 2, 3].map(() => pool.run(rawOf(mixedTexts(20)), OBSERVED))
  const settled = await Promise.allSettled(runs)
  t.same(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
  const second = settled[1]!
  const reason = second.status === 'rejected' ? (second.reason as { code?: string; message?: string }) : {}
  t.equal(reason.code, 'PSR_ERR_WORKER')
  t.match(reason.message, /a worker thread exited with code 7 while mapping \d+ events; the window is read again/)
  t.equal(pool.deaths, 1)
  const after = await pool.run(rawOf(mixedTexts(20)), OBSERVED)
  t.notOk(isParseFailure(after), 'the pool works on')
  t.ok(pool.threads <= 2)
})

t.test('a thread whose code throws answers with a failure (PSR_ERR_WORKER) and stays usable', async (t) => {
  const { pool } = dyingPool(t, 1, { throwAt: [0] })
  await t.rejects(pool.run(rawOf(mixedTexts(5)), OBSERVED), { code: 'PSR_ERR_WORKER', message: /thrown on cue at batch 0/ })
  t.notOk(isParseFailure(await pool.run(rawOf(mixedTexts(5)), OBSERVED)))
  t.equal(pool.deaths, 0)
})

t.test('closing rejects what waits and what runs; a closed pool refuses work', async (t) => {
  const pool = new WorkerPool({ size: 1, setup: SETUP })
  const running = pool.run(rawOf(mixedTexts(200)), OBSERVED)
  const waiting = pool.run(rawOf(mixedTexts(10)), OBSERVED)
  const checks = [t.rejects(waiting, { code: 'PSR_ERR_WORKER', message: /closed/ }), t.rejects(running, { code: 'PSR_ERR_WORKER', message: /closed/ })]
  await pool.close()
  await Promise.all(checks)
  await t.rejects(pool.run(rawOf(mixedTexts(1)), OBSERVED), { code: 'PSR_ERR_WORKER' })
  // Stopping is not a failure: no advice to change RECEIVER_WORKERS.
  const closed = await pool.run(rawOf(mixedTexts(1)), OBSERVED).catch((e: unknown) => e)
  t.match(closed, { message: /receiver is stopping/ })
  t.notMatch(String((closed as Error).message), /RECEIVER_WORKERS/)
  t.equal(pool.threads, 0)
  t.throws(() => new WorkerPool({ size: 0, setup: SETUP }), RangeError)
})

t.test('a thread gives each raw batch buffer back: the next raw batch that fits is cut into it', async (t) => {
  const pool = new WorkerPool({ size: 1, setup: SETUP })
  t.teardown(() => pool.close())
  const raw = rawOf(mixedTexts(30))
  const size = raw.bytes.byteLength
  t.equal(pool.rawBuffer(size).buffer.byteLength, size, 'none given back yet: a new one')
  await pool.run(raw, OBSERVED)
  const again = pool.rawBuffer(size - 100)
  t.same([again.buffer.byteLength, again.byteOffset, again.length], [size, 0, size - 100], 'the returned buffer, as a view of the size asked')
  t.equal(pool.rawBuffer(size - 100).buffer.byteLength, size - 100, 'taken: not handed out twice')
})

t.test('one batch of big events does not keep its buffers for good (raw and result buffers)', async (t) => {
  const pool = new WorkerPool({ size: 1, setup: SETUP })
  t.teardown(() => pool.close())
  await assertBurstLetGo(t, pool)
})

t.test('a thread runs no preload of the process (an APM agent, auto-instrumentation, a test runner hook)', async (t) => {
  // One preload on the command line, one in NODE_OPTIONS: both run in the main thread, neither in a pool thread. The
  // process-wide options beside them would be refused in a worker's execArgv: the thread must start all the same.
  const cli = `--import=data:text/javascript,${encodeURIComponent('globalThis.psrCliPreload = true')}`
  const env = `--import=data:text/javascript,${encodeURIComponent('globalThis.psrEnvPreload = true')}`
  const args = ['--max-old-space-size=256', '--expose-gc', cli, '--enable-source-maps', '--conditions', 'node', '--stack-trace-limit=20']
  const child = spawnSync(process.execPath, [...args, fileURLToPath(new URL('./preload-child.js', import.meta.url))], {
    env: { ...process.env, NODE_OPTIONS: env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  t.equal(child.status, 0, child.stderr)
  const seen = JSON.parse(child.stdout) as { main: unknown; thread: { cli: boolean; env: boolean; execArgv: string[]; nodeOptions: string } | null }
  t.same(seen.main, { cli: true, env: true }, 'the process ran both preloads')
  t.same(seen.thread && { cli: seen.thread.cli, env: seen.thread.env }, { cli: false, env: false }, 'the thread ran neither')
  t.same(seen.thread?.execArgv, ['--enable-source-maps', '--conditions', 'node'], 'the thread keeps the options it can take')
  t.equal(seen.thread?.nodeOptions, '', 'and is given no NODE_OPTIONS')
})

t.test('threadExecArgv keeps source maps, profiling and warnings, with their values; nothing else', (t) => {
  t.same(
    threadExecArgv(['--import', 'a.mjs', '--enable-source-maps', '--require=b.cjs', '-r', 'c', '--loader=d', '--cpu-prof', '--cpu-prof-dir', '/tmp/p', '--max-old-space-size=512', '--expose-gc', '--heap-prof-name=h', '-C', 'x']),
    ['--enable-source-maps', '--cpu-prof', '--cpu-prof-dir', '/tmp/p', '--heap-prof-name=h', '-C', 'x'],
  )
  t.same(threadExecArgv(['--enable-source-maps-x', '--inspect', '--title', 'x']), [], 'only those options, by their whole name')
  t.end()
})

t.test('a Node that refuses a kept option in a worker: the thread starts without options', async (t) => {
  const pool = new WorkerPool({ size: 1, setup: SETUP })
  t.teardown(() => pool.close())
  // As if this Node refused one: --expose-gc is refused in a worker's execArgv by every Node.
  const inside = pool as unknown as { execArgv: string[] }
  inside.execArgv = ['--expose-gc']
  t.notOk(isParseFailure(await pool.run(rawOf(mixedTexts(3)), OBSERVED)), 'the batch is mapped')
  t.same(inside.execArgv, [], 'and later threads start without options too')
})
