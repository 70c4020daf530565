import t from 'tap'
import { RecentNeed, SpareBuffers } from '../src/spare-buffers.js'

const MB = 1 << 20

t.test('RecentNeed: buffers up to 8 MB are always kept; a larger one while a batch of the last 64 to 128 needed half of it', (t) => {
  const need = new RecentNeed()
  t.ok(need.keeps(8 * MB), 'small: kept before any batch')
  t.notOk(need.keeps(8 * MB + 1))
  need.note(100 * MB)
  t.ok(need.keeps(200 * MB), 'twice what a batch needed')
  t.notOk(need.keeps(200 * MB + 1))
  let batches = 1
  while (need.keeps(200 * MB)) {
    need.note(MB)
    batches++
  }
  t.ok(batches > 64 && batches <= 128, `let go after ${batches} batches`)
  t.ok(need.keeps(2 * MB), 'small ones still')
  t.end()
})

t.test('SpareBuffers: at most `max`, none empty; a big one let go once batches need less, also while it lies unused', (t) => {
  const spares = new SpareBuffers(2)
  spares.note(40 * MB)
  const big = new ArrayBuffer(40 * MB)
  spares.put(new ArrayBuffer(0))
  spares.put(big)
  spares.put(new ArrayBuffer(MB))
  spares.put(new ArrayBuffer(MB))
  t.equal(spares.bytes, 41 * MB, 'the big one and one small one: none empty, two at most')
  t.equal(spares.take(2 * MB)?.buffer, big, 'the first large enough, as a view of the size asked')
  t.equal(spares.take(2 * MB), undefined, 'taken: not handed out twice')
  spares.put(big)
  for (let i = 0; i < 128; i++) spares.note(MB)
  t.equal(spares.bytes, MB, 'the big one let go while kept')
  spares.put(big)
  t.equal(spares.bytes, MB, 'and not taken back')
  t.equal(spares.pop()?.byteLength, MB)
  t.end()
})
