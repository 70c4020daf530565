import t, { type Test } from 'tap'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StateError } from '../src/errors.js'
import { FileStateStore, MemoryStateStore, pruneExportedKeys, validateReceiverState, type ReceiverState } from '../src/state/index.js'

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'psr-state-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const sample: ReceiverState = {
  version: 1,
  cursor: '2024-05-01T10:00:00.000Z',
  lastEventAt: '2024-05-01T09:59:12.000Z',
  exportedKeys: { aaa: 1714557600000, bbb: 1714554000000 },
}

void t.test('file store: nothing saved yet loads as undefined', async (t) => {
  const store = new FileStateStore(join(await tempDir(t), 'not-yet'))
  t.equal(await store.load(), undefined)
})

void t.test('file store: round trip, dir created on first save, no tmp left', async (t) => {
  const dir = join(await tempDir(t), 'a', 'b')
  const store = new FileStateStore(dir)
  await store.save(sample)
  t.same(await store.load(), sample)
  t.same(await readdir(dir), ['state.json'], 'only state.json after an atomic save')
  const second: ReceiverState = { version: 1, cursor: '2024-05-01T11:00:00.000Z', exportedKeys: {} }
  await store.save(second)
  t.same(await new FileStateStore(dir).load(), second, 'a new store (a restart) reads the last save')
  t.same(await readdir(dir), ['state.json'])
})

void t.test('file store: concurrent saves land in call order', async (t) => {
  const dir = await tempDir(t)
  const store = new FileStateStore(dir)
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.save({ version: 1, cursor: new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString(), exportedKeys: { [`k${i}`]: i } })),
  )
  const loaded = await store.load()
  t.equal(loaded?.cursor, '2024-01-01T00:19:00.000Z')
  t.same(await readdir(dir), ['state.json'])
})

void t.test('file store: the caller changing its object after save does not change what is written', async (t) => {
  const store = new FileStateStore(await tempDir(t))
  const s = structuredClone(sample)
  const p = store.save(s)
  s.exportedKeys.zzz = 1
  await p
  t.same(await store.load(), sample)
})

void t.test('file store: corrupt or foreign files are refused with PSR_ERR_STATE', async (t) => {
  const dir = await tempDir(t)
  const store = new FileStateStore(dir)
  const cases: [string, string][] = [
    ['not json', '{"version":1,"cursor":'],
    ['wrong version', JSON.stringify({ ...sample, version: 2 })],
    ['bad cursor', JSON.stringify({ ...sample, cursor: 'yesterday' })],
    ['missing cursor', JSON.stringify({ version: 1, exportedKeys: {} })],
    ['bad lastEventAt', JSON.stringify({ ...sample, lastEventAt: 5 })],
    ['bad key value', JSON.stringify({ ...sample, exportedKeys: { a: '1' } })],
    ['keys an array', JSON.stringify({ ...sample, exportedKeys: [] })],
    ['array', '[]'],
    ['empty file', ''],
  ]
  for (const [name, content] of cases) {
    await writeFile(join(dir, 'state.json'), content)
    const err = await store.load().then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(err, StateError, name)
    t.equal((err as StateError).code, 'PSR_ERR_STATE', name)
    t.match((err as StateError).message, /restore it from a backup, or delete it knowingly/, `${name}: says how to fix`)
  }
})

void t.test('file store: unreadable state path is a StateError', async (t) => {
  const dir = await tempDir(t)
  await rm(dir, { recursive: true })
  await writeFile(dir, 'a file where the directory should be')
  const store = new FileStateStore(dir)
  await t.rejects(store.load(), { code: 'PSR_ERR_STATE' })
})

void t.test('file store: init on an unwritable dir names RECEIVER_STATE_DIR', async (t) => {
  const parent = await tempDir(t)
  const blocker = join(parent, 'blocker')
  await writeFile(blocker, 'a file where the directory should be')
  for (const dir of [blocker, join(blocker, 'sub')]) {
    const store = new FileStateStore(dir)
    const err = await store.init().then(
      () => undefined,
      (e: unknown) => e,
    )
    t.type(err, StateError)
    t.equal((err as StateError).code, 'PSR_ERR_STATE')
    t.match((err as StateError).message, /RECEIVER_STATE_DIR/)
    t.match((err as StateError).message, dir)
    await t.rejects(store.save(sample), { code: 'PSR_ERR_STATE' }, 'save fails the same way')
  }
})

void t.test('file store: init creates the dir, leaves no probe, cleans stray tmp files', async (t) => {
  const dir = join(await tempDir(t), 'state')
  const store = new FileStateStore(dir)
  await store.init()
  t.same(await readdir(dir), [])
  await store.save(sample)
  await writeFile(join(dir, 'state.json.tmp-999-3'), '{"torn')
  await writeFile(join(dir, 'state.json.tmp-1000-1'), '')
  await writeFile(join(dir, 'unrelated.txt'), 'keep me')
  await new FileStateStore(dir).init()
  t.same((await readdir(dir)).sort(), ['state.json', 'unrelated.txt'])
  t.same(await store.load(), sample, 'the state survives the clean-up')
  t.match(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')), { cursor: '2024-05-01T10:00:00.000Z' }, 'the cursor is in the file')
})

void t.test('validateReceiverState lists every problem', (t) => {
  t.same(validateReceiverState(sample), [])
  t.equal(validateReceiverState({ version: 3, cursor: 'x', exportedKeys: null }).length, 3)
  t.same(validateReceiverState(null), ['not a JSON object'])
  t.end()
})

void t.test('memory store: deep copies, failure injection', async (t) => {
  const store = new MemoryStateStore()
  t.equal(await store.load(), undefined)
  const s = structuredClone(sample)
  await store.save(s)
  s.exportedKeys.changed = 1
  const loaded = await store.load()
  t.same(loaded, sample, 'save copied')
  if (loaded) loaded.exportedKeys.mutated = 2
  t.same(await store.load(), sample, 'load copied')
  t.equal(store.saveCount, 1)
  store.failNextSave()
  await t.rejects(store.save({ ...sample, cursor: '2030-01-01T00:00:00Z' }), { code: 'PSR_ERR_STATE' })
  t.equal(store.current?.cursor, sample.cursor, 'a failed save keeps the old state')
  await store.save({ ...sample, cursor: '2030-01-01T00:00:00Z' })
  t.equal(store.current?.cursor, '2030-01-01T00:00:00Z')
  t.same(await new MemoryStateStore(sample).load(), sample)
})

void t.test('pruneExportedKeys keeps keys at or after the threshold', (t) => {
  const keys = { old: 100, edge: 200, fresh: 300 }
  t.same(pruneExportedKeys(keys, 200), { edge: 200, fresh: 300 })
  t.same(pruneExportedKeys(keys, 0), keys)
  t.same(pruneExportedKeys(keys, 301), {})
  t.same(keys, { old: 100, edge: 200, fresh: 300 }, 'input untouched')
  t.end()
})
