/**
 * A window through runWindow with a batch mapper: each batch's result buffer goes back to the mapper once every record
 * sent from it was answered, never before (the export reads the bytes until then), and never after a failed call.
 */
import t from 'tap'
import { createLogger } from '../../src/logger.js'
import { isEncoded } from '../../src/mapping/types.js'
import { runWindow } from '../../src/poller/index.js'
import type { BatchMapper, ExportOutcome, WindowRecord, WindowRunDeps } from '../../src/poller/index.js'
import type { EventBatch, WindowEvents } from '../../src/siem/client.js'
import { noEvents } from '../../src/siem/response-parser.js'
import { UidKeyMap } from '../../src/state/index.js'
import { inThreadMapper } from '../../src/workers/in-thread.js'
import { assertBurstLetGo, mixedTexts, rawOf } from './raw-events.js'

const WINDOW = { start: new Date('2026-11-24T11:00:00Z'), end: new Date('2026-11-24T12:00:00Z') }
const SETUP = { mapping: { attributeShape: 'flat', body: 'json', indicators: true, standardFields: true } } as const

function rawSource(batches: number[]): WindowRunDeps['source'] {
  return {
    events(_w, _s, _n, raw): WindowEvents {
      if (raw !== true) throw new Error('a batch mapper asks for raw batches')
      const result: WindowEvents & { summary: WindowEvents['summary'] } = {
        summary: undefined,
        async *[Symbol.asyncIterator](): AsyncGenerator<EventBatch> {
          for (const [i, n] of batches.entries()) yield { events: noEvents(), raw: rawOf(mixedTexts(n + i)) }
          result.summary = { status: 200, bytes: 1, events: 1 }
        },
      }
      return result
    },
  }
}

function spyMapper(): { mapper: BatchMapper; recycled: ArrayBuffer[]; produced: ArrayBuffer[] } {
  const inner = inThreadMapper(SETUP)
  const recycled: ArrayBuffer[] = []
  const produced: ArrayBuffer[] = []
  return {
    recycled,
    produced,
    mapper: {
      size: 1,
      async run(raw, observed) {
        const r = await inner.run(raw, observed)
        if ('bytes' in r) produced.push(r.bytes.buffer as ArrayBuffer)
        return r
      },
      recycle(buffer) {
        recycled.push(buffer)
        inner.recycle!(buffer)
      },
    },
  }
}

function deps(mapper: BatchMapper, exportRecords: WindowRunDeps['exportRecords'], batches: number[]): WindowRunDeps {
  return {
    source: rawSource(batches),
    exportRecords,
    batchSize: 50,
    concurrency: 2,
    mapping: SETUP.mapping,
    exported: new UidKeyMap(),
    logger: createLogger('silent'),
    clock: () => Date.parse('2026-11-24T12:00:00Z'),
    progress: () => undefined,
    workers: mapper,
  }
}

t.test('every batch buffer is recycled after its last record was answered, and the bytes were intact until then', async (t) => {
  const spy = spyMapper()
  let bytesSeen = 0
  const exportRecords = async (records: WindowRecord[]): Promise<ExportOutcome> => {
    for (const r of records) {
      if (!isEncoded(r)) throw new Error('encoded records expected')
      if (spy.recycled.includes(r.encoded.buffer as ArrayBuffer)) throw new Error('a record of a recycled batch was exported')
      bytesSeen += r.encoded.length
    }
    await new Promise((res) => setTimeout(res, 1))
    return { batches: 1 }
  }
  const done = new UidKeyMap()
  await runWindow(deps(spy.mapper, exportRecords, [40, 70, 10]), WINDOW, new AbortController().signal, done)
  t.ok(bytesSeen > 0)
  t.equal(spy.produced.length, 3)
  t.equal(spy.recycled.length, 3, 'each batch once')
  t.same(new Set(spy.recycled).size, 3)
})

t.test('a failed export recycles nothing of its records (the attempt is abandoned, the buffers left to the GC)', async (t) => {
  const spy = spyMapper()
  let calls = 0
  const exportRecords = async (): Promise<ExportOutcome> => {
    if (++calls === 2) throw new Error('collector down')
    await new Promise((res) => setTimeout(res, 1))
    return { batches: 1 }
  }
  await t.rejects(runWindow(deps(spy.mapper, exportRecords, [120]), WINDOW, new AbortController().signal, new UidKeyMap()), /collector down/)
  t.equal(spy.recycled.length, 0, 'the batch had records in the failed call')
})

t.test('in the main thread too: a raw batch buffer is reused once its batch was encoded, never while in use', async (t) => {
  const mapper = inThreadMapper(SETUP)
  const raw = rawOf(mixedTexts(30))
  const first = raw.bytes.buffer
  t.not(mapper.rawBuffer!(10).buffer, first, 'nothing encoded yet')
  const result = await mapper.run(raw, [0, 0])
  t.ok('bytes' in result)
  t.equal(mapper.rawBuffer!(raw.bytes.length).buffer, first, 'the encoded batch\'s buffer')
})

t.test('in the main thread: one batch of big events does not keep its buffers for good', async (t) => {
  await assertBurstLetGo(t, inThreadMapper(SETUP))
})
