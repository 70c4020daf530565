/**
 * The package ships dist/src, not src: a source map that only points at ../../src/x.ts is useless to whoever
 * installed the package. Each map must carry its sources (sourcesContent).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/** The compiled src/ next to this compiled test (dist/src, or another build's). */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

t.test('every shipped source map carries the sources it maps', (t) => {
  const maps = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js.map'))
  t.ok(maps.length > 10, `${maps.length} maps`)
  for (const f of maps) {
    const map = JSON.parse(readFileSync(join(SRC, f), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> }
    t.equal(map.sourcesContent?.length, map.sources.length, `${f}: sourcesContent for every source`)
    t.ok(map.sourcesContent?.every((c) => typeof c === 'string' && c.length > 0), `${f}: non-empty`)
  }
  t.end()
})
