/** The entry of a pool's worker thread: started with the WorkerSetup as its workerData. */
import { parentPort, workerData } from 'node:worker_threads'
import type { WorkerSetup } from './encode-batch.js'
import { serve } from './serve.js'

if (parentPort) serve(parentPort, workerData as WorkerSetup)
