/**
 * Worker threads that parse, map and encode raw batches (RECEIVER_WORKERS), so a big window uses every core while the
 * main thread keeps HTTP in and out, dedup, the acknowledgements and the cursor. Buffers are transferred, not cloned.
 * Started on first use (an idle receiver never starts them); a worker that dies fails its batch with a WorkerError
 * (the window is read again, nothing of it was exported) and is replaced when next needed.
 */
import { Worker } from 'node:worker_threads'
import type { WorkerOptions } from 'node:worker_threads'
import { WorkerError } from '../errors.js'
import type { HrTime } from '../mapping/types.js'
import type { RawEvents } from '../siem/types.js'
import { isParseFailure } from './encode-batch.js'
import type { BatchResult, WorkerSetup } from './encode-batch.js'
import type { BatchReply, BatchRequest } from './serve.js'
import { SpareBuffers } from '../spare-buffers.js'

export interface WorkerPoolOptions {
  /** Threads at most (≥ 1). */
  size: number
  setup: WorkerSetup
  /** The threads' entry module: map-worker.js by default (tests pass one that dies on cue). */
  entry?: URL
  /** Given to the entry beside the setup (tests). */
  extraData?: Record<string, unknown>
}

/**
 * A thread's V8 limits: its young generation (V8's default is ~3 × 16 MB). A thread encodes each event as soon as it
 * is mapped, so little outlives a scavenge: measured at 300k events with 2 threads (npm run bench), 8 MB took the peak
 * RSS from 357 to 300 MB at the same speed; 4 MB was no smaller (more was promoted). A `--max-semi-space-size` on the
 * process's command line overrides it: the receiver is launched with the one that gives the same size (node-flags.ts).
 */
export const WORKER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 8 } as const

/** Options a thread keeps from the command line (Node accepts them in a worker): no value. */
const KEEP_FLAGS = new Set(['--enable-source-maps', '--cpu-prof', '--heap-prof', '--trace-warnings', '--trace-deprecation', '--throw-deprecation', '--pending-deprecation', '--no-deprecation', '--no-warnings', '--trace-uncaught'])
/** Options a thread keeps, with their value (`--x=v` or `--x v`). */
const KEEP_WITH_VALUE = new Set(['--cpu-prof-dir', '--cpu-prof-name', '--cpu-prof-interval', '--heap-prof-dir', '--heap-prof-name', '--heap-prof-interval', '--conditions', '-C'])

/**
 * A thread's Node options: from the process's command line, only those that matter to a thread that maps and encodes
 * (source maps for its stack traces, profiling, warnings) and that Node accepts in a worker. Not the rest:
 * - preloads (`--import`, `--require`, loaders) run again in every worker thread, from the command line and from
 *   NODE_OPTIONS alike: an APM agent or OpenTelemetry's auto-instrumentation would start once per thread, and under
 *   the test runner its hooks doubled the threads' CPU. NODE_OPTIONS is not passed on at all (see spawn);
 * - V8 and process-wide options (`--max-old-space-size`, `--expose-gc`, `--title`) are refused in a worker's execArgv
 *   (ERR_WORKER_INVALID_EXEC_ARGV); they apply to the whole process anyway.
 */
export function threadExecArgv(execArgv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!
    const name = arg.split('=', 1)[0]!
    if (KEEP_FLAGS.has(arg)) out.push(arg)
    else if (KEEP_WITH_VALUE.has(name)) {
      out.push(arg)
      if (name === arg && i + 1 < execArgv.length) out.push(execArgv[++i]!)
    }
  }
  return out
}

interface Task {
  request: BatchRequest
  events: number
  resolve: (result: BatchResult) => void
  reject: (err: Error) => void
}

export class WorkerPool {
  readonly size: number
  private readonly entry: URL
  /** The threads' Node options (threadExecArgv); emptied if this Node refuses one of them. */
  private execArgv = threadExecArgv(process.execArgv)
  private readonly all = new Set<Worker>()
  private readonly idle: Worker[] = []
  private readonly busy = new Map<Worker, Task>()
  private readonly queue: Task[] = []
  private nextId = 0
  private closed = false
  /** Threads that died (shown in logs by the caller through the errors; counted for tests and /status). */
  deaths = 0
  /** Result buffers the caller is done with, sent back with the next batches (see recycle). */
  private readonly spares: SpareBuffers
  /** Raw batch buffers the threads gave back (see rawBuffer). */
  private readonly rawSpares: SpareBuffers

  constructor(private readonly opts: WorkerPoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError(`size must be a positive integer, got ${opts.size}`)
    this.size = opts.size
    this.spares = new SpareBuffers(opts.size * 2 + 2)
    this.rawSpares = new SpareBuffers(opts.size * 2 + 2)
    this.entry = opts.entry ?? new URL('./map-worker.js', import.meta.url)
  }

  /** Threads running now. */
  get threads(): number {
    return this.all.size
  }

  /**
   * Maps and encodes a batch in a thread (its buffers are transferred: `raw` is unusable afterwards). Batches are
   * taken in the order given; the caller bounds how many wait. Rejects with a WorkerError when the thread dies.
   */
  run(raw: RawEvents, observed: HrTime): Promise<BatchResult> {
    if (this.closed) return Promise.reject(WorkerError.closed())
    return new Promise<BatchResult>((resolve, reject) => {
      this.queue.push({ request: { id: this.nextId++, raw, observed }, events: raw.ends.length, resolve, reject })
      this.dispatch()
    })
  }

  /**
   * A result's buffer (EncodedBatch.bytes.buffer) the caller no longer reads: a thread encodes a later batch into it.
   * Without this every batch is fresh memory outside V8's heap, freed only by full collections (~1 per batch).
   */
  recycle(buffer: ArrayBuffer): void {
    this.spares.put(buffer)
  }

  /** A buffer for a raw batch: one a thread gave back when it is large enough (raw batches are fresh memory otherwise). */
  rawBuffer(size: number): Uint8Array {
    this.rawSpares.note(size)
    return this.rawSpares.take(size) ?? new Uint8Array(size)
  }

  /** Stops every thread; batches waiting or in flight reject. */
  async close(): Promise<void> {
    this.closed = true
    for (const task of this.queue.splice(0)) task.reject(WorkerError.closed())
    await Promise.all([...this.all].map((w) => w.terminate()))
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      const worker = this.idle.pop() ?? (this.all.size < this.size ? this.spawn() : undefined)
      if (worker === undefined) return
      const task = this.queue.shift()!
      this.busy.set(worker, task)
      const { raw } = task.request
      const reuse = this.spares.pop()
      const request: BatchRequest = reuse === undefined ? task.request : { ...task.request, reuse }
      worker.postMessage(request, [raw.bytes.buffer, raw.ends.buffer, ...(reuse === undefined ? [] : [reuse])] as ArrayBuffer[])
    }
  }

  private spawn(): Worker {
    const options: WorkerOptions = {
      workerData: { ...this.opts.setup, ...this.opts.extraData },
      resourceLimits: { ...WORKER_RESOURCE_LIMITS },
      // NODE_OPTIONS is read again for each worker (its preloads run there): none. It is not cut into options, since
      // its values may be quoted.
      env: { ...process.env, NODE_OPTIONS: '' },
    }
    let worker: Worker
    try {
      worker = new Worker(this.entry, { ...options, execArgv: this.execArgv })
    } catch (err) {
      // A Node that refuses one of the kept options: a thread without them still maps and encodes the same.
      if ((err as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || this.execArgv.length === 0) throw err
      this.execArgv = []
      worker = new Worker(this.entry, { ...options, execArgv: [] })
    }
    this.all.add(worker)
    worker.on('message', (reply: BatchReply) => {
      const task = this.busy.get(worker)
      this.busy.delete(worker)
      this.idle.push(worker)
      if ('raw' in reply && reply.raw !== undefined) this.rawSpares.put(reply.raw)
      if (task !== undefined) {
        if ('result' in reply) {
          if (!isParseFailure(reply.result)) this.spares.note(reply.result.bytes.byteLength)
          task.resolve(reply.result)
        } else task.reject(new WorkerError(`a worker thread failed while mapping ${task.events} events: ${reply.failure}`))
      }
      this.dispatch()
    })
    worker.on('error', (err) => this.died(worker, `failed (${err.message})`, err))
    worker.on('messageerror', (err) => this.died(worker, `could not read a message (${err.message})`, err))
    worker.on('exit', (code) => this.died(worker, `exited with code ${code}`))
    return worker
  }

  private died(worker: Worker, how: string, cause?: unknown): void {
    if (!this.all.delete(worker)) return
    const at = this.idle.indexOf(worker)
    if (at >= 0) this.idle.splice(at, 1)
    const task = this.busy.get(worker)
    this.busy.delete(worker)
    if (this.closed) {
      task?.reject(WorkerError.closed())
      return
    }
    this.deaths++
    void worker.terminate()
    task?.reject(new WorkerError(`a worker thread ${how} while mapping ${task.events} events`, cause))
    this.dispatch()
  }
}
