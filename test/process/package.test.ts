/**
 * The npm package as users get it: `npm pack` of the built tree, installed from the tarball into an empty
 * directory, its bin run. Offline: the install resolves every dependency from the npm cache that `npm ci` filled
 * (a lock file for the temporary project is derived from the repository's own, production entries only, so npm
 * never needs the registry's metadata), and no install script runs.
 */
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { runProcess } from '../helpers/child.js'
import type { Run } from '../helpers/child.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const SECRET = 'pkg-test-s3cr3t-7c1d'

interface PackageJson {
  name: string
  version: string
  license?: string
  bin?: Record<string, string> | string
  main?: string
  types?: string
  typings?: string
  exports?: unknown
  engines?: Record<string, string>
  dependencies?: Record<string, string>
}
interface LockEntry {
  dev?: boolean
  [key: string]: unknown
}

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson

/** The environment without the developer's receiver settings and without npm's per-script variables. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(OTEL_|PROOFPOINT_|RECEIVER_)/.test(k)) continue
    // `npm test` exports these for its scripts; an npm started from here must work out its own project.
    if (/^npm_(package_|lifecycle_|config_(local_prefix|prefix|global|dry_run|omit|include|workspaces?)$)/i.test(k)) continue
    env[k] = v
  }
  // The node running the tests first on PATH: the bin's `#!/usr/bin/env node` and npm use it.
  env.PATH = `${dirname(process.execPath)}${delimiter}${env.PATH ?? ''}`
  return { ...env, ...extra }
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return runProcess(command, args, { cwd, env, timeoutMs })
}

/** Every file path an entry point of package.json names (bin, main, types, exports), without "./". */
function entryPoints(pkg: PackageJson): string[] {
  const out: string[] = []
  const add = (p: unknown): void => {
    if (typeof p === 'string') out.push(p.replace(/^\.\//, ''))
    else if (p && typeof p === 'object') for (const v of Object.values(p)) add(v)
  }
  add(pkg.bin)
  add(pkg.main)
  add(pkg.types)
  add(pkg.typings)
  add(pkg.exports)
  return out
}

/**
 * package.json and package-lock.json for an empty project that depends on the tarball: the repository's lock
 * entries that are not dev-only (the same tree `npm ci --omit=dev` installs), plus the tarball itself.
 */
function writeInstallProject(dir: string, tarball: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const integrity = `sha512-${createHash('sha512').update(readFileSync(join(dir, tarball))).digest('base64')}`
  const dependency = { [PKG.name]: `file:${tarball}` }
  const packages: Record<string, unknown> = {
    '': { name: 'package-test', dependencies: dependency },
    [`node_modules/${PKG.name}`]: {
      version: PKG.version,
      resolved: `file:${tarball}`,
      integrity,
      ...(PKG.license ? { license: PKG.license } : {}),
      ...(PKG.dependencies ? { dependencies: PKG.dependencies } : {}),
      ...(PKG.bin ? { bin: PKG.bin } : {}),
      ...(PKG.engines ? { engines: PKG.engines } : {}),
    },
  }
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'package-test', private: true, dependencies: dependency }, null, 2))
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'package-test', lockfileVersion: 3, requires: true, packages }, null, 2))
}

t.test('npm pack: bin, compiled JS and types, README and licence, nothing else; installed offline it runs', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'psr-package-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const env = cleanEnv()
  t.ok(existsSync(join(ROOT, 'dist/src/main.js')), 'the compiled output exists (tests run after the build)')

  const started = Date.now()
  const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT, env)
  t.equal(packed.code, 0, `npm pack exits 0${packed.code === 0 ? '' : `: ${packed.stderr.slice(-2000)}`}`)
  const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  if (!info) throw new Error('npm pack printed no package')
  const files = info.files.map((f) => f.path).sort()

  // Contents
  const allowed = (p: string): boolean =>
    ['package.json', 'README.md', 'LICENSE'].includes(p) || /^dist\/src\/.+\.(js|d\.ts|js\.map|d\.ts\.map)$/.test(p)
  t.same(files.filter((p) => !allowed(p)), [], 'only dist/src (JS, declarations, maps), README.md, LICENSE and package.json')
  for (const required of ['package.json', 'README.md', 'LICENSE', 'dist/src/main.js', 'dist/src/main.d.ts']) {
    t.ok(files.includes(required), `${required} is in the package`)
  }
  t.notOk(files.some((p) => p.startsWith('dist/test/') || p.endsWith('.ts') && !p.endsWith('.d.ts')), 'no tests, no TypeScript sources')
  const jsFiles = files.filter((p) => p.endsWith('.js'))
  t.same(jsFiles.filter((p) => !files.includes(p.replace(/\.js$/, '.d.ts'))), [], 'every module has its type declarations')
  for (const entry of entryPoints(PKG)) t.ok(files.includes(entry), `package.json names ${entry}, which is in the package`)
  t.ok(PKG.bin && typeof PKG.bin === 'object' && PKG.bin[PKG.name], `bin "${PKG.name}"`)
  t.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/, 'LICENSE is the Apache 2.0 text')
  t.equal(PKG.license, 'Apache-2.0', 'package.json says Apache-2.0')

  // Install the tarball into an empty project, offline
  const project = join(work, 'project')
  mkdirSync(project)
  copyFileSync(join(work, info.filename), join(project, info.filename))
  writeInstallProject(project, info.filename)
  const installed = await run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], project, env, 120_000)
  t.equal(
    installed.code,
    0,
    `npm ci --offline of the tarball exits 0${installed.code === 0 ? '' : ` (is the npm cache filled by \`npm ci\`?): ${installed.stderr.slice(-3000)}`}`,
  )
  const bin = join(project, 'node_modules', '.bin', PKG.name)
  t.ok(existsSync(bin), `node_modules/.bin/${PKG.name} is installed`)

  // Run it, from a directory that is not the repository
  const help = await run(bin, ['--help'], project, env)
  t.equal(help.code, 0, '--help exits 0')
  t.match(help.stdout, new RegExp(`^Usage: ${PKG.name} `), '--help prints the usage')
  t.match(help.stdout, /check-config/, 'naming check-config')

  const version = await run(bin, ['--version'], project, env)
  t.equal(version.stdout.trim(), PKG.version, '--version reads the installed package.json')

  const check = await run(bin, ['check-config', '--offline'], project, {
    ...env,
    PROOFPOINT_PRINCIPAL: 'pkg-test-principal',
    PROOFPOINT_SECRET: SECRET,
    RECEIVER_STATE_DIR: join(work, 'state'),
  })
  t.equal(check.code, 0, `check-config --offline exits 0${check.code === 0 ? '' : `: ${check.stderr}`}`)
  t.match(check.stdout, /pkg-test-principal/, 'prints the configuration')
  t.match(check.stdout, /configuration is valid/, 'and says it is valid')
  t.notMatch(check.stdout + check.stderr, SECRET, 'never the secret')

  const invalid = await run(bin, ['check-config', '--offline'], project, env)
  t.not(invalid.code, 0, 'check-config without credentials fails')
  t.match(invalid.stderr, /PROOFPOINT_PRINCIPAL/, 'naming the missing setting')
  t.comment(`pack, offline install and runs took ${Date.now() - started} ms`)
})
