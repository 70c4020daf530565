import type { LogRecordProcessor, ReadableLogRecord, SdkLogRecord } from '@opentelemetry/sdk-logs'

/**
 * A processor that only collects what the logger emits, synchronously, so the caller decides when and how the
 * records are exported and learns whether the export was acknowledged. (The SDK's BatchLogRecordProcessor resolves
 * forceFlush() even when the export failed and drops records when its queue is full: the cursor could then move past
 * records that were never delivered.)
 */
export class CollectingLogRecordProcessor implements LogRecordProcessor {
  private buffer: ReadableLogRecord[] = []

  onEmit(logRecord: SdkLogRecord): void {
    this.buffer.push(logRecord)
  }

  /** The records emitted since the last call, in emission order. */
  take(): ReadableLogRecord[] {
    const out = this.buffer
    this.buffer = []
    return out
  }

  forceFlush(): Promise<void> {
    return Promise.resolve()
  }

  shutdown(): Promise<void> {
    this.buffer = []
    return Promise.resolve()
  }
}
