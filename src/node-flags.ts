/**
 * The Node.js options the receiver is launched with (the image's ENTRYPOINT, `npm start`, `npm run demo`; the
 * benchmark starts its receivers the same way, and a project test keeps them in step).
 *
 * `--max-semi-space-size=16` caps the main thread's young generation at what Node 20 and 22 use by default (two
 * 16 MB semi-spaces). Node 24's V8 lets it grow to 128 MB in a process that keeps objects alive across scavenges, as
 * the receiver does while a big window streams: measured on a 300k-event window without threads (what a 1-CPU pod
 * runs), peak RSS 348–356 MB on Node 24 against 255–256 MB with the cap (212 MB on Node 20). V8 reads it when the
 * heap is made, so the code cannot set it for itself. Worker threads get their own limit (pool.ts).
 */
export const NODE_FLAGS = ['--max-semi-space-size=16'] as const

/** The first Node.js major whose young generation grows past Node 20's without the flag. */
const GROWING_YOUNG_GENERATION = 24

function setsYoungGeneration(arg: string): boolean {
  return /^--max[-_]semi[-_]space[-_]size(=|$)/.test(arg)
}

/**
 * What to tell the operator of a receiver started without NODE_FLAGS (`node dist/src/main.js run` by hand, the npm
 * bin) on a Node.js whose young generation can grow: undefined when there is nothing to say (the image, `npm start`,
 * an older Node.js, or a size of the operator's own on the command line or in NODE_OPTIONS).
 */
export function youngGenerationAdvice(nodeVersion: string, execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(nodeVersion)?.[1] ?? 0)
  if (major < GROWING_YOUNG_GENERATION) return undefined
  if (execArgv.some(setsYoungGeneration) || (nodeOptions ?? '').split(/\s+/).some(setsYoungGeneration)) return undefined
  return (
    `node ${nodeVersion} was started without ${NODE_FLAGS.join(' ')}: its young generation can grow to 128 MB, ` +
    `about 100 MB more peak memory on a big window; start it as \`node ${NODE_FLAGS.join(' ')} dist/src/main.js\` (the image and npm start do)`
  )
}
