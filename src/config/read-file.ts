/** Reading the files settings name (the config file, secret files, PEM files): injectable, and never quoted. */
import { readFileSync } from 'node:fs'

/** Reads a file as UTF-8 text; loadConfig's callers may replace it (tests, `map` and `demo`'s filtered config file). */
export type ReadFile = (path: string) => string

export function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8')
}

/** The error's code (ENOENT, EACCES, ...) or message: never file contents. */
export function fsReason(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return err instanceof Error ? err.message : String(err)
}
