import { readFileSync } from 'node:fs'

/** The package version, read once from package.json (two levels above the compiled dist/src/). */
export const VERSION: string = ((): string => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0'
  } catch {
    return '0.0.0'
  }
})()

export const NAME = 'proofpoint-siem-receiver'
