export type { Liveness, LoopWait } from './liveness.js'
export { ReceiverStatus, type Readiness } from './receiver-status.js'
export { RECEIVER_PHASES } from './snapshot.js'
export type { StatusSnapshot, TypeCounts } from './snapshot.js'
