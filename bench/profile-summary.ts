/**
 * `node dist/bench/profile-summary.js FILE.cpuprofile [N]`: the N functions (default 25) with the most self time in
 * a V8 CPU profile (`node --cpu-prof`, or `npm run bench -- --cpu-prof DIR`), and self time summed by file, so the
 * README can name what limits the receiver.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length)
  const dist = url.indexOf('/dist/')
  if (dist >= 0) return url.slice(dist + '/dist/'.length)
  return url.replace(/^file:\/\//, '')
}

function main(): void {
  const [file, topArg] = process.argv.slice(2)
  if (!file) throw new Error('usage: profile-summary.js FILE.cpuprofile [N]')
  const top = Number(topArg ?? 25)
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const label = (n: ProfileNode): string => {
    const { functionName, url, lineNumber } = n.callFrame
    return `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim()
  }
  const selfUs = new Map<number, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt)
    total += dt
  })
  const byFunction = new Map<string, number>()
  const byFile = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (!node) continue
    const { functionName, url } = node.callFrame
    const key = label(node)
    byFunction.set(key, (byFunction.get(key) ?? 0) + us)
    const fileKey = url ? shortUrl(url) : functionName
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us)
  }
  // Inclusive ("total") time: each sample counts once for every distinct function on its stack.
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const inclusive = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)
      if (!node) break
      const key = label(node)
      if (key === '(root)' || seen.has(key)) continue
      seen.add(key)
      inclusive.set(key, (inclusive.get(key) ?? 0) + us)
    }
  }
  const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)} %`
  console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`)
  console.log('\nself time by function:')
  for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
  console.log('\ntotal (inclusive) time by function:')
  for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
  console.log('\nself time by file:')
  for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`)
}

main()
