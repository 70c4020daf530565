#!/usr/bin/env node
/** The command line, and the only module that touches process: argv, env, signals, stdout, exit codes. */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { LoadedConfig } from './config/index.js'
import { ConfigError, EXIT_CONFIG } from './errors.js'
import { mallocArenaAdvice, onGlibc, youngGenerationAdvice } from './node-flags.js'
import { NAME, VERSION } from './version.js'
// Everything else is imported by the command that needs it: loading it takes seconds on a busy host, and `run` and
// `demo` listen for the stop signals before that, so a SIGTERM right after the start does not exit at once.

/** SIGTERM → exit within this; Kubernetes' default grace period is 30 s, the design promises 10 s. */
const SHUTDOWN_DEADLINE_MS = 9_000

const USAGE = `Usage: ${NAME} [run|demo|check-config [--offline]|map FILE|-] [--config FILE]

Pulls Proofpoint TAP SIEM API events and exports them as OpenTelemetry log records over OTLP (HTTP or gRPC).

Commands:
  run            poll the SIEM API forever and export (default)
  demo           run against a built-in SIEM API simulator on loopback and print each record (no credentials needed)
  check-config   validate the configuration, print it with its sources (secrets redacted), then check that the
                 SIEM API accepts the credentials (1 request of the budget) and that the OTLP endpoint answers;
                 exit 0, or 1 when the configuration is invalid or a check fails
  map FILE|-     map a saved SIEM API JSON response to OTLP/JSON on stdout (no network)

Options:
  --config FILE  JSON or YAML file with the same keys as the environment variables (environment wins)
  --offline      check-config: validate and print only; no request to the SIEM API or the OTLP endpoint
  --help, -h     this text
  --version, -v  the version

SIGTERM, SIGINT and SIGHUP stop run and demo gracefully (exit 0), also during start-up. The configuration is read
at start: restart the receiver to apply a changed one.

Configuration is read from the environment and the --config file (or RECEIVER_CONFIG_FILE) by every command; the
environment wins. See the README for every variable. Durations: 30s, 5m, 1.5m, 1m30s, 24h, 7d.

State: the cursor is kept in RECEIVER_STATE_DIR, by default ./data relative to the current working directory (not
to where the command is installed): set RECEIVER_STATE_DIR to a fixed path when running a globally installed
command, from a service manager or from a different directory.`

async function loadOrExplain(env: NodeJS.ProcessEnv, configFile: string | undefined): Promise<LoadedConfig | undefined> {
  const { loadConfig } = await import('./config/index.js')
  try {
    return loadConfig({ env, ...(configFile ? { configFile } : {}) })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${NAME}: ${err.message}\n`)
    return undefined
  }
}

async function runCommand(env: NodeJS.ProcessEnv, configFile: string | undefined, stop: StopSignals): Promise<number> {
  const loaded = await loadOrExplain(env, configFile)
  if (!loaded) return EXIT_CONFIG
  const { config } = loaded
  const [{ createLogger, routeProcessWarnings }, { createApp, startFailed }, { redactUrl }] = await Promise.all([import('./logger.js'), import('./app.js'), import('./redact.js')])
  const logger = createLogger(config.receiver.logLevel)
  routeProcessWarnings(logger)
  const early = stop.received()
  if (early) {
    // Nothing was started (no port, no state directory touched): nothing to shut down.
    logger.info({ signal: early }, 'stop requested before the receiver started; not starting')
    logger.info('stopped')
    return 0
  }
  let app: ReturnType<typeof createApp>
  try {
    app = createApp(config, { logger })
  } catch (err) {
    // Nothing was started yet. The configuration checks should have refused what makes this fail (a proxy URL undici
    // cannot use, say): logged like a failed start, not as a crash.
    return startFailed(logger, err)
  }
  // A stop signal ends a standby wait (another receiver holds the lock on RECEIVER_STATE_DIR, or a flock the file
  // system does not answer) at once, and /readyz says the receiver is stopping while the start winds down.
  const standbyStop = new AbortController()
  void stop.first.then(() => {
    app.status.setPhase('stopping')
    standbyStop.abort()
  })
  let polling: boolean
  let workers: number
  try {
    ;({ polling, workers } = await app.start({ signal: standbyStop.signal }))
  } catch (err) {
    // An unusable state directory or ops address is the operator's to fix: EX_CONFIG, like invalid settings.
    const code = startFailed(logger, err)
    await app.shutdown()
    return code
  }
  // Stopped while a standby: it never started polling, and the log does not say it did.
  if (polling) logger.info({ version: VERSION, principal: config.proofpoint.principal, endpoint: redactUrl(config.otel.logsEndpoint) }, 'receiver started')
  const advice = polling ? youngGenerationAdvice(process.version, process.execArgv, env.NODE_OPTIONS, workers) : undefined
  if (advice !== undefined) logger.info(advice)
  // The report that names the C library takes ~20 ms: asked only when the variable is missing.
  const arenas = polling && env.MALLOC_ARENA_MAX === undefined ? mallocArenaAdvice(env, onGlibc()) : undefined
  if (arenas !== undefined) logger.info(arenas)
  // A signal that came during start() resolved this already: the receiver stops right after a complete start.
  const signal = await stop.first
  logger.info({ signal }, 'shutting down')
  if (!(await withDeadline(app.shutdown(), SHUTDOWN_DEADLINE_MS))) {
    // Not a graceful stop: what was acknowledged may not be saved. Exit 1 so a supervisor and the operator see it.
    const pending = app.shutdownStep() ?? 'unknown'
    logger.error({ pending }, `the shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s (still waiting for ${pending}); exiting anyway`)
    return 1
  }
  logger.info('stopped')
  return 0
}

/** SIGHUP too (a closed terminal, or an operator expecting a reload): there is no reload, the configuration is read at start. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP']

interface StopSignals {
  received(): NodeJS.Signals | undefined
  /** Resolves with the first stop signal (already resolved when one came before it is awaited). */
  readonly first: Promise<NodeJS.Signals>
}

/**
 * Called before the configuration is read and the modules load, so a signal during start-up is acted on once the
 * start is complete instead of ending the process half-started. The handlers stay: a second signal (a repeated
 * Ctrl-C, an impatient supervisor) must not kill a graceful shutdown half-way; the shutdown deadline bounds it.
 */
function listenForStop(): StopSignals {
  let first: NodeJS.Signals | undefined
  let resolveFirst: (sig: NodeJS.Signals) => void = () => undefined
  const firstPromise = new Promise<NodeJS.Signals>((resolve) => {
    resolveFirst = resolve
  })
  const on = (sig: NodeJS.Signals): void => {
    if (first) {
      process.stderr.write(`${NAME}: ${sig} received again; still stopping (at most ${SHUTDOWN_DEADLINE_MS / 1000} s once started)\n`)
      return
    }
    first = sig
    resolveFirst(sig)
  }
  for (const sig of STOP_SIGNALS) process.on(sig, on)
  return { received: () => first, first: firstPromise }
}

/** False when `p` had not settled within `ms`. */
async function withDeadline(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
    timer.unref()
  })
  const settled = await Promise.race([p.then(() => true, () => true), deadline])
  clearTimeout(timer)
  return settled
}

/** `stdoutGone`: resolves when standard output can no longer be written (watchStdout). */
export async function main(argv: string[], env: NodeJS.ProcessEnv, stdoutGone: Promise<void> = new Promise(() => undefined)): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string' },
        offline: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (err) {
    process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  const [command = 'run', ...rest] = positionals
  // `map` takes one FILE; nothing else takes any: an extra word is a mistake (a typo, a lost option), not ignored.
  const extra = rest.slice(command === 'map' ? 1 : 0)
  if (extra.length > 0 && ['run', 'check-config', 'demo', 'map'].includes(command)) {
    process.stderr.write(`${NAME}: unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => JSON.stringify(a)).join(' ')} for ${command}\n\n${USAGE}\n`)
    return 2
  }
  switch (command) {
    case 'run':
      return runCommand(env, values.config, listenForStop())
    case 'check-config': {
      const loaded = await loadOrExplain(env, values.config)
      if (!loaded) return 1
      const { checkConfig } = await import('./cli/check-config.js')
      return checkConfig(loaded, { offline: values.offline ?? false, stdout: process.stdout, stderr: process.stderr })
    }
    case 'demo': {
      const stop = listenForStop()
      const { runDemo } = await import('./cli/demo.js')
      // A signal during the demo's start-up resolved `stop.first` already: it stops right after the start. A reader
      // that went away (`demo | head`) stops it too, so its temporary state directory is removed.
      const untilStopped = (): Promise<unknown> => Promise.race([stop.first, stdoutGone])
      return runDemo({ env, ...(values.config ? { configFile: values.config } : {}), untilStopped, stdout: process.stdout, stderr: process.stderr })
    }
    case 'map': {
      const file = rest[0]
      if (!file) {
        process.stderr.write(`${NAME}: map needs a FILE (or - for standard input)\n`)
        return 2
      }
      let text: Buffer
      try {
        text = readFileSync(file === '-' ? 0 : file)
      } catch (err) {
        process.stderr.write(`${NAME}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`)
        return 1
      }
      const { mapCommand } = await import('./cli/map.js')
      return mapCommand(text, { env, ...(values.config ? { configFile: values.config } : {}), stdout: process.stdout, stderr: process.stderr })
    }
    default:
      process.stderr.write(`${NAME}: unknown command "${command}"\n\n${USAGE}\n`)
      return 2
  }
}

/**
 * Standard output failing: EPIPE once its reader is gone (`demo | head`, `map FILE | head -c 10`) ends what writes to
 * it quietly; another error (EIO, ENOSPC on a redirect) is said on stderr and makes the exit code 1. Either way the
 * command winds down as it would (the demo stops), not with an unhandled 'error' event.
 */
function watchStdout(): { gone: Promise<void>; failed: () => boolean } {
  let failure: NodeJS.ErrnoException | undefined
  let resolveGone: () => void = () => undefined
  const gone = new Promise<void>((resolve) => (resolveGone = resolve))
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (failure === undefined && err.code !== 'EPIPE') process.stderr.write(`${NAME}: cannot write to standard output: ${err.message}\n`)
    failure ??= err
    resolveGone()
  })
  return { gone, failed: () => failure !== undefined && failure.code !== 'EPIPE' }
}

/**
 * A bug that escapes every handler (a throw in a callback, a rejection nobody awaits) ends the process with one fatal
 * line through the redacting logger and exit 1, not Node's dump of the error and its properties (a request's headers
 * among them). The stop signals and the exit codes of the commands are untouched: these see only what nothing caught.
 */
function exitOnUncaught(): void {
  let dying = false
  const die = (what: string) => (err: unknown): void => {
    if (dying) return
    dying = true
    import('./logger.js')
      .then(({ createLogger }) => createLogger('info').fatal({ err }, `${what}: exiting (a bug; please report it)`))
      .catch(() => process.stderr.write(`${NAME}: ${what}: ${err instanceof Error ? err.message : String(err)}\n`))
      .finally(() => process.exit(1))
  }
  process.on('uncaughtException', die('uncaught exception'))
  process.on('unhandledRejection', die('unhandled promise rejection'))
}

exitOnUncaught()
const stdout = watchStdout()
main(process.argv.slice(2), process.env, stdout.gone).then(
  (result) => {
    const code = result === 0 && stdout.failed() ? 1 : result
    process.exitCode = code
    // Anything still holding the loop (sockets closing) must not keep a stopped receiver alive.
    setTimeout(() => process.exit(code), 1_000).unref()
  },
  (err: unknown) => {
    process.stderr.write(`${NAME}: unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
