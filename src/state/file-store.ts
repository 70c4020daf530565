import { randomBytes } from 'node:crypto'
import { copySource, sourceProblem } from './source.js'
import { open, readFile, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { StateError } from '../errors.js'
import { errorCodeOf } from '../http-util.js'
import { makeDirectory } from './make-dir.js'
import { STATE_VERSION, type ReceiverState, type StateStore } from './types.js'
import { parseStrictUtc } from './times.js'
import { bucketsProblem } from './uid-key-map.js'

const STATE_FILE_NAME = 'state.json'
const TMP_PREFIX = `${STATE_FILE_NAME}.tmp-`
const PROBE_PREFIX = '.write-probe-'
/** The largest epoch milliseconds a Date holds. */
const MAX_DATE_MS = 8.64e15

const RESTORE_HINT =
  'restore it from a backup, or delete it knowingly: without it the receiver starts RECEIVER_START_LOOKBACK back, which can export events again or skip some'

/**
 * The receiver state as one JSON file, `state.json` in `dir`, replaced atomically: write a temporary file in the
 * same directory, fsync it, rename it over `state.json`, fsync the directory. A crash at any instant leaves the
 * old or the new file, never a torn one. Saves are serialised in call order, so the last `save` called wins.
 */
export class FileStateStore implements StateStore {
  readonly path: string
  private counter = 0
  private queue: Promise<unknown> = Promise.resolve()

  constructor(readonly dir: string) {
    this.path = join(dir, STATE_FILE_NAME)
  }

  /** Checks at start that the state can be kept (creates the directory, writes and removes a probe file); throws StateError. */
  async init(): Promise<void> {
    try {
      // Not mkdir({ recursive: true }): it never settles for a path under /proc (see make-dir.ts).
      await makeDirectory(this.dir)
      // Not the pid alone: receivers in containers are all pid 1, and two starting on one volume removed each other's.
      const probe = join(this.dir, `${PROBE_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`)
      await writeFile(probe, 'probe\n')
      // Gone already: a holder's removeLeftovers took it; the directory was writable all the same.
      await unlink(probe).catch((err: unknown) => {
        if (errorCodeOf(err) !== 'ENOENT') throw err
      })
    } catch (err) {
      throw new StateError(
        `RECEIVER_STATE_DIR "${this.dir}" is not a writable directory (${describe(err)}): create it, or point RECEIVER_STATE_DIR at a directory this process can write (in Kubernetes a persistent volume; with a read-only root filesystem it must be a mounted volume)`,
        err,
      )
    }
  }

  /** Removes the temporary files a crash mid-save left behind. Only under the lock: a standby must not delete the holder's. */
  async removeLeftovers(): Promise<void> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      throw new StateError(`cannot list RECEIVER_STATE_DIR "${this.dir}" (${describe(err)}): make it readable by this process`, err)
    }
    // Leftovers of a crash mid-save: state.json is still the last complete state.
    for (const name of names.filter((n) => n.startsWith(TMP_PREFIX) || n.startsWith(PROBE_PREFIX))) {
      await rm(join(this.dir, name), { force: true }).catch(() => undefined)
    }
  }

  async load(): Promise<ReceiverState | undefined> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if (errorCodeOf(err) === 'ENOENT') return undefined
      throw new StateError(
        `cannot read the state file "${this.path}" (${describe(err)}): make it readable by this process (RECEIVER_STATE_DIR), or ${RESTORE_HINT}`,
        err,
      )
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw new StateError(`the state file "${this.path}" is not valid JSON (${describe(err)}): ${RESTORE_HINT}`, err)
    }
    const problems = validateReceiverState(value)
    if (problems.length > 0) {
      const version = (value as { version?: unknown } | null)?.version
      if (typeof version === 'number' && version > STATE_VERSION) {
        // A rollback: the newer receiver's file is fine, this one cannot read it.
        throw new StateError(`the state file "${this.path}" was written by a newer receiver (state version ${version}; this one reads ${STATE_VERSION}): run that version, or ${RESTORE_HINT}`)
      }
      throw new StateError(`the state file "${this.path}" is not a receiver state this version can use (${problems.join('; ')}): ${RESTORE_HINT}`)
    }
    return copyState(value as ReceiverState)
  }

  save(state: ReceiverState): Promise<void> {
    // JSON is taken now, so later changes by the caller do not leak into a queued save.
    const text = `${JSON.stringify(copyState(state))}\n`
    const run = this.queue.then(() => this.write(text))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async write(text: string): Promise<void> {
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}-${++this.counter}`)
    try {
      await makeDirectory(this.dir)
      const file = await open(tmp, 'w', 0o600)
      try {
        await file.writeFile(text, 'utf8')
        await file.sync()
      } finally {
        await file.close()
      }
      await rename(tmp, this.path)
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined)
      throw new StateError(
        `cannot write the state file "${this.path}" (${describe(err)}): check RECEIVER_STATE_DIR "${this.dir}" is writable and not full; the cursor stays where it was`,
        err,
      )
    }
    await syncDir(this.dir)
  }
}

/** fsync a directory so a rename in it is durable. Some file systems cannot; the rename itself is still atomic. */
async function syncDir(dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch (err) {
    const code = errorCodeOf(err)
    if (code === 'EISDIR' || code === 'EINVAL' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EBADF') return
    throw new StateError(`cannot sync RECEIVER_STATE_DIR "${dir}" after writing the state file (${describe(err)})`, err)
  } finally {
    await handle?.close()
  }
}

/** Every problem that makes `value` unusable as a {@link ReceiverState}; empty when it is fine. */
export function validateReceiverState(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['not a JSON object']
  const v = value as Record<string, unknown>
  const problems: string[] = []
  if (v.version !== STATE_VERSION) problems.push(`version is ${JSON.stringify(v.version)}, expected ${STATE_VERSION}`)
  if (!isIsoDate(v.cursor)) problems.push('cursor is not an ISO-8601 UTC time like 2026-11-27T10:00:00Z')
  if (v.lastEventAt !== undefined && !isIsoDate(v.lastEventAt)) problems.push('lastEventAt is not an ISO-8601 UTC time like 2026-11-27T10:00:00Z')
  const keys = v.exportedKeys
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
    problems.push('exportedKeys is not an object')
  } else {
    const problem = bucketsProblem(keys)
    if (problem) problems.push(`exportedKeys: ${problem}`)
  }
  if (v.reaskFrom !== undefined && !isIsoDate(v.reaskFrom)) problems.push('reaskFrom is not an ISO-8601 UTC time like 2026-11-27T10:00:00Z')
  if (v.sweeps !== undefined && !(Array.isArray(v.sweeps) && v.sweeps.every(isSweepState))) {
    problems.push('sweeps is not a list of {"ageSeconds": positive number, "through": ISO-8601 time}')
  }
  // Epoch milliseconds a Date can hold (1e20 passed, then threw a bare RangeError when shown).
  if (v.apiRequests !== undefined && !(Array.isArray(v.apiRequests) && v.apiRequests.every((x) => typeof x === 'number' && Number.isFinite(x) && Math.abs(x) <= MAX_DATE_MS))) {
    problems.push('apiRequests is not a list of times in epoch milliseconds')
  }
  // 1e999 parses to Infinity: it would break every /metrics scrape (a counter cannot grow by it).
  if (v.gapSeconds !== undefined && !(typeof v.gapSeconds === 'number' && Number.isFinite(v.gapSeconds) && v.gapSeconds >= 0)) {
    problems.push('gapSeconds is not a finite non-negative number')
  }
  if (v.noEventsAlerting !== undefined && typeof v.noEventsAlerting !== 'boolean') problems.push('noEventsAlerting is not a boolean')
  const sourceIssue = v.source === undefined ? undefined : sourceProblem(v.source)
  if (sourceIssue !== undefined) problems.push(sourceIssue)
  if (v.fresh !== undefined && typeof v.fresh !== 'boolean') problems.push('fresh is not a boolean')
  return problems
}

const isIsoDate = (v: unknown): boolean => parseStrictUtc(v) !== undefined

function isSweepState(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false
  const { ageSeconds, through } = v as Record<string, unknown>
  return typeof ageSeconds === 'number' && Number.isFinite(ageSeconds) && ageSeconds > 0 && isIsoDate(through)
}

/** A copy holding only the known fields. */
function copyState(s: ReceiverState): ReceiverState {
  const out: ReceiverState = { version: STATE_VERSION, cursor: s.cursor, exportedKeys: { ...s.exportedKeys } }
  if (s.lastEventAt !== undefined) out.lastEventAt = s.lastEventAt
  if (s.reaskFrom !== undefined) out.reaskFrom = s.reaskFrom
  if (s.sweeps !== undefined) out.sweeps = s.sweeps.map(({ ageSeconds, through }) => ({ ageSeconds, through }))
  if (s.apiRequests !== undefined) out.apiRequests = [...s.apiRequests]
  if (s.gapSeconds !== undefined) out.gapSeconds = s.gapSeconds
  if (s.noEventsAlerting !== undefined) out.noEventsAlerting = s.noEventsAlerting
  if (s.source !== undefined) out.source = copySource(s.source)
  if (s.fresh !== undefined) out.fresh = s.fresh
  return out
}

function describe(err: unknown): string {
  return errorCodeOf(err) ?? (err instanceof Error ? err.message : String(err))
}
