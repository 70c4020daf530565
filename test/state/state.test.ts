import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative as relativePath } from 'node:path'
import { StateError } from '../../src/errors.js'
import { FileStateStore, MemoryStateStore, UidKeyMap, checkStateTimes, validateReceiverState, type ReceiverState } from '../../src/state/index.js'

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'psr-state-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A uid as the mapper makes them (hex SHA-256). */
const uid = (n: number): string => n.toString(16).padStart(8, '0').repeat(8)
const KEY_A = Buffer.from(uid(0xa).slice(0, 32), 'hex').toString('base64')
const sample: ReceiverState = {
  version: 2,
  cursor: '2024-05-01T10:00:00.000Z',
  lastEventAt: '2024-05-01T09:59:12.000Z',
  exportedKeys: { '1714557600000': KEY_A, '1714554000000': Buffer.alloc(32, 7).toString('base64') },
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
  const second: ReceiverState = { version: 2, cursor: '2024-05-01T11:00:00.000Z', exportedKeys: {} }
  await store.save(second)
  t.same(await new FileStateStore(dir).load(), second, 'a new store (a restart) reads the last save')
  t.same(await readdir(dir), ['state.json'])
})

void t.test('file store: concurrent saves land in call order', async (t) => {
  const dir = await tempDir(t)
  const store = new FileStateStore(dir)
  await Promise.all(
    Array.from({ length: 20 }, (_, i) => store.save({ version: 2, cursor: new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString(), exportedKeys: { [String(i)]: KEY_A } })),
  )
  const loaded = await store.load()
  t.equal(loaded?.cursor, '2024-01-01T00:19:00.000Z')
  t.same(await readdir(dir), ['state.json'])
})

void t.test('file store: the caller changing its object after save does not change what is written', async (t) => {
  const store = new FileStateStore(await tempDir(t))
  const s = structuredClone(sample)
  const p = store.save(s)
  s.exportedKeys['1'] = KEY_A
  await p
  t.same(await store.load(), sample)
})

void t.test('file store: corrupt or foreign files are refused with PSR_ERR_STATE', async (t) => {
  const dir = await tempDir(t)
  const store = new FileStateStore(dir)
  const cases: [string, string][] = [
    ['not json', '{"version":1,"cursor":'],
    ['wrong version', JSON.stringify({ ...sample, version: 3 })],
    ['bad cursor', JSON.stringify({ ...sample, cursor: 'yesterday' })],
    ['missing cursor', JSON.stringify({ version: 2, exportedKeys: {} })],
    ['bad lastEventAt', JSON.stringify({ ...sample, lastEventAt: 5 })],
    ['version 1 (a development format)', JSON.stringify({ ...sample, version: 1, exportedKeys: { a: 1 } })],
    ['bucket not a window end', JSON.stringify({ ...sample, exportedKeys: { a: KEY_A } })],
    ['bucket not base64', JSON.stringify({ ...sample, exportedKeys: { '1': 'not base64!' } })],
    ['bucket not whole keys', JSON.stringify({ ...sample, exportedKeys: { '1': Buffer.alloc(15).toString('base64') } })],
    ['bucket a number', JSON.stringify({ ...sample, exportedKeys: { '1': 5 } })],
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

/** The promise's rejection, or a failure after `ms` (a generous bound: the test fails instead of hanging). */
async function rejectionWithin(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`still pending after ${ms} ms`), ms)
  })
  try {
    return await Promise.race([p.then(() => 'resolved', (e: unknown) => e), bound])
  } finally {
    clearTimeout(timer)
  }
}

void t.test('file store: init under /proc (where mkdir recursive never settles) fails with a StateError', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  for (const dir of ['/proc/nope', '/proc/nope/deeper/state', '/proc/self/nope']) {
    const err = await rejectionWithin(new FileStateStore(dir).init(), 10_000)
    t.type(err, StateError, `${dir}: ${String(err)}`)
    t.match((err as StateError).message, /RECEIVER_STATE_DIR/)
    t.match((err as StateError).message, dir)
  }
})

void t.test('file store: init creates missing parents; a read-only dir is refused', async (t) => {
  const base = await tempDir(t)
  const deep = join(base, 'a', 'b', 'c')
  await new FileStateStore(deep).init()
  t.same(await readdir(join(base, 'a', 'b')), ['c'], 'every missing level is created')
  await new FileStateStore(deep).init()
  t.pass('an existing directory is fine')
  const relative = relativePath(process.cwd(), join(base, 'rel', 'x'))
  await new FileStateStore(relative).init()
  t.same(await readdir(join(base, 'rel')), ['x'], 'a relative path works too')

  const ro = join(base, 'ro')
  await mkdir(ro)
  await chmod(ro, 0o555)
  t.teardown(() => chmod(ro, 0o755))
  if (process.getuid?.() === 0) {
    t.comment('running as root: permissions do not stop root, the read-only case is not tried')
  } else {
    for (const dir of [ro, join(ro, 'sub')]) {
      const err = await rejectionWithin(new FileStateStore(dir).init(), 10_000)
      t.type(err, StateError, `${dir}: ${String(err)}`)
      t.match((err as StateError).message, /RECEIVER_STATE_DIR .*is not a writable directory \(EACCES\)/)
    }
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
  const second = new FileStateStore(dir)
  await second.init()
  t.equal((await readdir(dir)).length, 4, 'init alone leaves them: a standby must not delete the holder\'s save in progress')
  await second.removeLeftovers()
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

void t.test('times must be strict ISO-8601 UTC: what Date.parse also takes is corrupt state', (t) => {
  for (const cursor of ['1', 'Friday 27 November 2026', '2026-11-27T10:00:00', '2026-11-27 10:00:00Z', '2026-11-27T10:00:00+01:00', '2026-02-30T10:00:00Z', '']) {
    t.match(validateReceiverState({ ...sample, cursor }), [/cursor is not an ISO-8601 UTC time/], JSON.stringify(cursor))
    t.match(validateReceiverState({ ...sample, reaskFrom: cursor }), [/reaskFrom is not an ISO-8601/], `reaskFrom ${JSON.stringify(cursor)}`)
    t.match(validateReceiverState({ ...sample, lastEventAt: cursor }), [/lastEventAt is not an ISO-8601/], `lastEventAt ${JSON.stringify(cursor)}`)
  }
  for (const cursor of ['2026-11-27T10:00:00Z', '2026-11-27T10:00:00.000Z', '2026-11-27T10:00:00.5Z']) t.same(validateReceiverState({ ...sample, cursor }), [], cursor)
  t.end()
})

void t.test('a state file with a cursor that is not strict UTC is refused at load with what to do', async (t) => {
  const dir = t.testdir({ 'state.json': JSON.stringify({ version: 2, cursor: 'Friday 27 November 2026', exportedKeys: {} }) })
  await t.rejects(new FileStateStore(dir).load(), { code: 'PSR_ERR_STATE', message: /cursor is not an ISO-8601 UTC time.*restore it from a backup/ })
})

void t.test('memory store: deep copies, failure injection', async (t) => {
  const store = new MemoryStateStore()
  t.equal(await store.load(), undefined)
  const s = structuredClone(sample)
  await store.save(s)
  s.exportedKeys['2'] = KEY_A
  const loaded = await store.load()
  t.same(loaded, sample, 'save copied')
  if (loaded) loaded.exportedKeys['3'] = KEY_A
  t.same(await store.load(), sample, 'load copied')
  t.equal(store.saveCount, 1)
  store.failNextSave()
  await t.rejects(store.save({ ...sample, cursor: '2030-01-01T00:00:00Z' }), { code: 'PSR_ERR_STATE' })
  t.equal(store.current?.cursor, sample.cursor, 'a failed save keeps the old state')
  await store.save({ ...sample, cursor: '2030-01-01T00:00:00Z' })
  t.equal(store.current?.cursor, '2030-01-01T00:00:00Z')
  t.same(await new MemoryStateStore(sample).load(), sample)
})

void t.test('UidKeyMap: 100k keys, growth, values, buckets round trip', (t) => {
  const map = new UidKeyMap()
  const n = 100_000
  for (let i = 0; i < n; i++) map.set(uid(i), i % 7)
  t.equal(map.size, n)
  map.set(uid(5), 99)
  t.equal(map.size, n, 'setting a key again replaces its value')
  t.equal(map.get(uid(5)), 99)
  let wrong = 0
  for (let i = 0; i < n; i++) if (map.get(uid(i)) !== (i === 5 ? 99 : i % 7)) wrong++
  t.equal(wrong, 0, 'every key keeps its value')
  let absent = 0
  for (let i = n; i < 2 * n; i++) if (map.has(uid(i))) absent++
  t.equal(absent, 0, 'no false positives')
  t.equal(map.has('a uid that is not hex'), false)
  map.set('a uid that is not hex', 1)
  t.equal(map.get('a uid that is not hex'), 1, 'non-hex uids are hashed')
  t.equal(map.has(`${uid(1).slice(0, 32)}${'f'.repeat(32)}`), true, 'the key is the first 128 bits')
  // 64 characters that are not all lowercase hex are hashed, not read as digits: none of these meets 'a' × 64.
  // (Read as digits, each of these would be 0, the key of '0' × 64.)
  const hexOnly = new UidKeyMap()
  hexOnly.set('0'.repeat(64), 7)
  for (const other of [`G${'0'.repeat(63)}`, `é${'0'.repeat(63)}`, `${'0'.repeat(20)}g${'0'.repeat(43)}`, `${'0'.repeat(31)}\u0160${'0'.repeat(32)}`]) {
    t.equal(hexOnly.get(other), undefined, `${other.replace(/0+/g, (z) => `[0 × ${z.length}]`)} is another key`)
  }
  t.equal(hexOnly.get('0'.repeat(64)), 7)
  const buckets = map.toBuckets()
  t.same(Object.keys(buckets), ['0', '1', '2', '3', '4', '5', '6', '99'])
  const back = UidKeyMap.fromBuckets(buckets)
  t.equal(back.size, map.size)
  let differ = 0
  map.forEach((value, key) => {
    if (back.getKey(key) !== value) differ++
  })
  t.equal(differ, 0, 'buckets round trip')
  const kept = map.filter((v) => v >= 6)
  let expected = 0
  for (let i = 0; i < n; i++) if ((i === 5 ? 99 : i % 7) >= 6) expected++
  t.equal(kept.size, expected, 'filter keeps the matching entries')
  t.throws(() => UidKeyMap.fromBuckets({ x: KEY_A }), TypeError)
  t.end()
})

void t.test('UidKeyMap: copies from map to map (filter, merges, the state file) keep lookups short', (t) => {
  // 160k keys fill 61 % of the source's 262,144 slots: a copy in slot order wraps round the half-size table it grows
  // through at a density over 1, which is what made runs pile up (at 300k events a window fills 57 %).
  const n = 160_000
  const source = new UidKeyMap()
  for (let i = 0; i < n; i++) source.set(createHash('sha256').update(String(i)).digest('hex'), i % 3)
  t.ok(source.longestRun() < 1000, `filled by set: longest run ${source.longestRun()}`)
  // Entries leave a map in slot order. With one hash for every map, linear probing piled them into runs thousands of
  // slots long (28,537 here) while the copy filled up (filtering 300k keys took 10 s); each growth hid it again. So the longest
  // run is watched all along the copy, not only at its end.
  const copy = new UidKeyMap()
  let longest = 0
  let copied = 0
  source.forEach((value, key) => {
    copy.setKey(key, value)
    if (++copied % 2000 === 0) longest = Math.max(longest, copy.longestRun())
  })
  t.equal(copy.size, n, 'every key copied')
  t.ok(longest < 1000, `the longest run while copying: ${longest}`)
  for (const [how, other] of Object.entries({ filter: source.filter(() => true), loaded: UidKeyMap.fromBuckets(source.toBuckets()) })) {
    t.equal(other.size, n, `${how}: every key`)
  }
  t.end()
})

void t.test('UidKeyMap: more distinct values than 2-byte slots can name (the slots widen), times as values', (t) => {
  const map = new UidKeyMap()
  const n = 70_000
  const T = Date.parse('2026-11-27T00:00:00Z')
  // Window ends in ms (past 2^32) and one distinct value per key: the 65,536th value widens the slots mid-way.
  for (let i = 0; i < n; i++) map.set(uid(i), T + i * 60_000)
  map.set(uid(3), -1.5)
  let wrong = 0
  for (let i = 0; i < n; i++) if (map.get(uid(i)) !== (i === 3 ? -1.5 : T + i * 60_000)) wrong++
  t.equal(wrong, 0, 'every key keeps its value across the widening and the growth')
  t.equal(map.size, n)
  t.equal(map.get(uid(n)), undefined)
  const back = UidKeyMap.fromBuckets(map.toBuckets())
  let differ = 0
  map.forEach((value, key) => {
    if (back.getKey(key) !== value) differ++
  })
  t.equal(back.size, n)
  t.equal(differ, 0, 'buckets round trip')
  t.equal(map.filter((v) => v >= T + (n - 10) * 60_000).size, 10)
  t.end()
})

void t.test('sweep cursors: saved and loaded, checked, a file without them still loads', async (t) => {
  const dir = await tempDir(t)
  const store = new FileStateStore(dir)
  const swept: ReceiverState = { ...sample, reaskFrom: '2024-05-01T09:25:00.000Z', sweeps: [{ ageSeconds: 600, through: '2024-05-01T09:50:00.000Z' }, { ageSeconds: 2100, through: '2024-05-01T09:25:00.000Z' }] }
  await store.save(swept)
  t.same(await store.load(), swept, 'round trip')
  await store.save(sample)
  t.equal((await store.load())?.sweeps, undefined, 'a state without sweeps (a file from before them) loads as it is')
  t.same(validateReceiverState({ ...sample, sweeps: [] }), [])
  for (const bad of [{}, [{ ageSeconds: 600 }], [{ ageSeconds: 0, through: sample.cursor }], [{ ageSeconds: 600, through: 'Friday' }], [null]]) {
    t.match(validateReceiverState({ ...sample, sweeps: bad }), [/^sweeps is not a list/], `sweeps ${JSON.stringify(bad)}`)
  }
  t.throws(() => checkStateTimes({ ...sample, reaskFrom: '2024-05-01T12:00:00.000Z' }, Date.parse(sample.cursor)), /reaskFrom 2024-05-01T12:00:00.000Z is after its cursor/, 'a re-ask point after the cursor is refused')
  const ahead = { ...sample, cursor: '2024-05-01T12:00:00.000Z', lastEventAt: '2024-05-01T12:00:00.000Z', apiRequests: [Date.parse(sample.cursor), Date.parse('2024-05-01T12:00:00.000Z')] }
  const checked = checkStateTimes(ahead, Date.parse(sample.cursor))
  t.equal(checked.state.cursor, ahead.cursor, 'a cursor ahead of this clock stays: the API answered through it')
  t.equal(checked.state.lastEventAt, sample.cursor, 'lastEventAt ahead: now')
  t.same(checked.state.apiRequests, [Date.parse(sample.cursor), Date.parse(sample.cursor)], 'request times ahead: now')
  t.match(checked.warnings, [/^the cursor 2024-05-01T12:00:00.000Z is 120 min ahead of this machine's clock/, /^lastEventAt .* taken as now/, /^1 request time in apiRequests .* taken as now/])
  t.same(checkStateTimes(sample, Date.parse(sample.cursor)), { state: sample, warnings: [] }, 'nothing ahead: unchanged')
})

void t.test('gapSeconds: finite and not negative (1e999 parses to Infinity, which broke every /metrics scrape)', async (t) => {
  t.same(validateReceiverState({ ...sample, gapSeconds: 3600 }), [])
  for (const bad of [JSON.parse('1e999') as number, -1, Number.NaN, '5']) {
    t.match(validateReceiverState({ ...sample, gapSeconds: bad }), [/^gapSeconds is not a finite non-negative number$/], String(bad))
  }
})

void t.test('fresh (no window committed yet): saved and loaded, a boolean; fields this version does not know are read past', async (t) => {
  const store = new FileStateStore(await tempDir(t))
  await store.save({ ...sample, fresh: true })
  t.equal((await store.load())?.fresh, true)
  t.match(validateReceiverState({ ...sample, fresh: 'yes' }), [/^fresh is not a boolean$/])
  // What a receiver before the flag does with a file that has it, and this one with a field from a later version.
  t.same(validateReceiverState({ ...sample, fresh: true, laterField: { any: 1 } }), [])
})

void t.test('state values that parsed but cannot be used: request times a Date cannot hold, a newer version, offset times', async (t) => {
  t.match(validateReceiverState({ ...sample, apiRequests: [1e20] }), [/^apiRequests is not a list of times in epoch milliseconds$/], 'refused at load, not a bare RangeError later')
  // A long list (a large PROOFPOINT_REQUEST_BUDGET): no stack overflow in the clock check.
  const many = { ...sample, apiRequests: Array.from({ length: 200_000 }, (_, i) => Date.parse(sample.cursor) - i) }
  t.doesNotThrow(() => checkStateTimes(many, Date.parse(sample.cursor)))
  t.match(validateReceiverState({ ...sample, lastEventAt: '2024-05-01T10:00:00+01:00' }), [/^lastEventAt is not an ISO-8601 UTC time like 2026-11-27T10:00:00Z$/])
  const dir = await tempDir(t)
  await writeFile(join(dir, 'state.json'), JSON.stringify({ ...sample, version: 3 }))
  await t.rejects(new FileStateStore(dir).load(), /was written by a newer receiver \(state version 3; this one reads 2\): run that version/)
})
