/**
 * The worker side of the pool (pool.ts): takes raw batches, answers each with its records mapped and encoded
 * (encode-batch.ts), the buffers transferred, not copied. map-worker.ts is the thread's entry.
 */
import type { MessagePort } from 'node:worker_threads'
import { batchEncoder, isParseFailure } from './encode-batch.js'
import type { BatchResult, WorkerSetup } from './encode-batch.js'
import type { HrTime } from '../mapping/types.js'
import type { RawEvents } from '../siem/types.js'

export interface BatchRequest {
  id: number
  raw: RawEvents
  observed: HrTime
  /** A result buffer the main thread is done with, to encode into (recycled: no fresh memory per batch). */
  reuse?: ArrayBuffer
}

/** `raw`: the request's raw buffer, given back for the next batches (see WorkerPool.rawBuffer). */
export type BatchReply = { id: number; result: BatchResult; raw?: ArrayBuffer } | { id: number; failure: string }

/** Answers the requests arriving on `port`; `before` runs first on each (tests make a worker die there). */
export function serve(port: MessagePort, setup: WorkerSetup, before?: (request: BatchRequest) => void): void {
  const encode = batchEncoder(setup)
  port.on('message', (request: BatchRequest) => {
    let reply: BatchReply
    try {
      before?.(request)
      const rawBuffer = request.raw.bytes.buffer as ArrayBuffer
      reply = { id: request.id, result: encode(request.raw, request.observed, request.reuse), raw: rawBuffer }
    } catch (err) {
      // A bug, not the data's fault (mapping never throws on bad events): the main thread retries the window.
      reply = { id: request.id, failure: err instanceof Error ? (err.stack ?? err.message) : String(err) }
    }
    const result = 'result' in reply ? reply.result : undefined
    const buffers = result && !isParseFailure(result) ? [result.bytes.buffer, result.ends.buffer, result.droppedAttributes.buffer, result.truncated.buffer, result.types.buffer] : []
    if ('raw' in reply && reply.raw !== undefined) buffers.push(reply.raw)
    port.postMessage(reply, buffers as ArrayBuffer[])
  })
}
