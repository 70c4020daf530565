/**
 * Creates a directory and its missing parents, one level at a time. Not `mkdir(path, { recursive: true })`: for a path
 * under /proc that never settles (Node 20, 22 and 24), so the receiver would hang at start with no log line; `stat`
 * and non-recursive `mkdir` answer at once (ENOENT, EACCES, EROFS, ENOTDIR, ...), and that error is what is thrown.
 */
import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { errorCodeOf } from '../http-util.js'

export async function makeDirectory(path: string): Promise<void> {
  const missing: string[] = []
  let at = resolve(path)
  for (;;) {
    let isDir: boolean
    try {
      isDir = (await stat(at)).isDirectory()
    } catch (err) {
      const parent = dirname(at)
      if (errorCodeOf(err) !== 'ENOENT' || parent === at) throw err
      missing.push(at)
      at = parent
      continue
    }
    if (!isDir) throw notADirectory(at)
    break
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir)
    } catch (err) {
      // Created meanwhile (another process): fine when it is a directory.
      if (errorCodeOf(err) !== 'EEXIST') throw err
      if (!(await stat(dir)).isDirectory()) throw notADirectory(dir)
    }
  }
}

function notADirectory(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOTDIR: not a directory, '${path}'`), { code: 'ENOTDIR', path })
}
