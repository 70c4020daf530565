/**
 * A pool thread that fails on cue: the real worker (serve), except that the batches whose request ids (the pool numbers
 * them in the order they were given) are in `dieAt` end the thread with exit code 7 before it answers, and those in
 * `throwAt` throw inside it. At the ids in `reportAt` it throws with what the thread was started with: whether the
 * preloads of test/workers/preload-child.ts ran here, and its Node options.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { WorkerSetup } from '../../src/workers/encode-batch.js'
import { serve } from '../../src/workers/serve.js'

const data = workerData as WorkerSetup & { dieAt: number[]; throwAt: number[]; reportAt?: number[] }
const marks = globalThis as { psrCliPreload?: boolean; psrEnvPreload?: boolean }

if (parentPort) {
  serve(parentPort, data, (request) => {
    if (data.dieAt.includes(request.id)) process.exit(7)
    if (data.throwAt.includes(request.id)) throw new Error(`thrown on cue at batch ${request.id}`)
    if (data.reportAt?.includes(request.id)) {
      const report = { cli: marks.psrCliPreload === true, env: marks.psrEnvPreload === true, execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS }
      throw new Error(`REPORT ${JSON.stringify(report)} END`)
    }
  })
}
