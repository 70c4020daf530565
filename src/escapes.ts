/**
 * Text that stands backslash-escaped (`abc\/def`, `\u0061bc`, `\x61`): found in the decoded text, replaced over the
 * raw characters it came from. How the Redactor finds a secret quoted inside JSON, or JSON inside a JSON string.
 */

/** The text with one level of escapes decoded: decoded UTF-16 unit i came from raw [start[i], end[i]). */
interface Decoded {
  text: string
  start: number[]
  end: number[]
}

const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', "'": "'" }
const HEX_ESCAPES: Record<string, RegExp> = { u: /^[0-9a-fA-F]{4}$/, x: /^[0-9a-fA-F]{2}$/ }

/** The escape at raw[i], decoded, and how many raw units it takes; undefined where there is none. */
function escapeAt(raw: string, i: number): [string, number] | undefined {
  if (raw[i] !== '\\' || i + 1 >= raw.length) return undefined
  const n = raw[i + 1] as string
  const simple = SIMPLE_ESCAPES[n]
  if (simple !== undefined) return [simple, 2]
  const hex = HEX_ESCAPES[n]
  const digits = hex === undefined ? '' : raw.slice(i + 2, i + (n === 'u' ? 6 : 4))
  return hex?.test(digits) ? [String.fromCharCode(parseInt(digits, 16)), 2 + digits.length] : undefined
}

function decodeEscapes(raw: string): Decoded {
  let text = ''
  const start: number[] = []
  const end: number[] = []
  for (let i = 0; i < raw.length; ) {
    const [unit, length] = escapeAt(raw, i) ?? [raw[i] as string, 1]
    text += unit
    start.push(i)
    end.push(i + length)
    i += length
  }
  return { text, start, end }
}

/** Merges overlapping (or touching) [start, end) ranges and replaces each with `replacement`. */
function replaceRanges(text: string, ranges: Array<[number, number]>, replacement: string): string {
  let out = ''
  let at = -1
  for (const [start, end] of ranges.sort((x, y) => x[0] - y[0])) {
    if (start <= at) {
      at = Math.max(at, end)
    } else {
      out += text.slice(Math.max(at, 0), start) + replacement
      at = end
    }
  }
  return at < 0 ? text : out + text.slice(at)
}

/** `text` with the matches of `pattern` (global) in its escaped forms, up to `levels` deep, replaced by `replacement`. */
export function replaceEscaped(text: string, pattern: RegExp, replacement: string, levels: number): string {
  let out = text
  for (let level = 0; level < levels && out.includes('\\'); level++) {
    // Composed map from the text decoded `level + 1` times back to `out`.
    let decoded = decodeEscapes(out)
    let { start, end } = decoded
    for (let more = 0; more < level; more++) {
      const next = decodeEscapes(decoded.text)
      start = next.start.map((s) => start[s] as number)
      end = next.end.map((e) => end[e - 1] as number)
      decoded = next
    }
    const ranges: Array<[number, number]> = []
    for (const m of decoded.text.matchAll(pattern)) {
      if (m[0].length > 0) ranges.push([start[m.index] as number, end[m.index + m[0].length - 1] as number])
    }
    out = replaceRanges(out, ranges, replacement)
  }
  return out
}
