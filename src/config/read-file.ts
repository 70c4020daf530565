/** Reading the files settings name (the config file, secret files, PEM files): injectable, and never quoted. */
import { readFileSync } from 'node:fs'
import { errorCodeOf } from '../http-util.js'
import { quote } from './formats.js'

/** Reads a file as UTF-8 text; loadConfig's callers may replace it (tests, `map` and `demo`'s filtered config file). */
export type ReadFile = (path: string) => string

export function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8')
}

/** The file's text, or why it cannot be used (unreadable; empty unless `emptyIsFine`). */
export function readText(path: string, readFile: ReadFile, emptyIsFine = false): { text: string } | { problem: string } {
  let text: string
  try {
    text = readFile(path)
  } catch (err) {
    // The error's code (ENOENT, EACCES, ...) or message: never file contents.
    return { problem: `cannot read ${quote(path)} (${errorCodeOf(err) ?? (err instanceof Error ? err.message : String(err))})` }
  }
  if (!emptyIsFine && text.trim() === '') return { problem: `${quote(path)} is empty` }
  return { text }
}
