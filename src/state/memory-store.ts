import { StateError } from '../errors.js'
import type { ReceiverState, StateStore } from './types.js'

/** An in-memory {@link StateStore} for tests and the demo. Saves and loads deep-copy: no side changes the other's state by reference. */
export class MemoryStateStore implements StateStore {
  private state: ReceiverState | undefined
  private failures: Error[] = []
  saveCount = 0

  constructor(initial?: ReceiverState) {
    this.state = initial === undefined ? undefined : structuredClone(initial)
  }

  load(): Promise<ReceiverState | undefined> {
    return Promise.resolve(this.state === undefined ? undefined : structuredClone(this.state))
  }

  save(state: ReceiverState): Promise<void> {
    const failure = this.failures.shift()
    if (failure !== undefined) return Promise.reject(failure)
    this.state = structuredClone(state)
    this.saveCount++
    return Promise.resolve()
  }

  /** Makes the next save fail (the state stays as it was); a `StateError` by default. */
  failNextSave(error: Error = new StateError('simulated state write failure')): void {
    this.failures.push(error)
  }

  /** The saved state without copying, for assertions. */
  get current(): Readonly<ReceiverState> | undefined {
    return this.state
  }
}
