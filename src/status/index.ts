export { LIVENESS_POLL_INTERVALS, MIN_LIVENESS_TIMEOUT_MS, WAIT_REASONS, type Liveness, type LoopWait, type WaitReason } from './liveness.js'
export { ReceiverStatus, type Readiness, type ReceiverStatusOptions } from './receiver-status.js'
export { RECEIVER_PHASES } from './snapshot.js'
export type { ExportCounts, ExportRecord, PollRecord, ReceiverPhase, StatusError, StatusSnapshot, TypeCounts } from './snapshot.js'
