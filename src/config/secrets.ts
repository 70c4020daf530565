/**
 * The SIEM API credentials and the ops server's bearer token, and the files that hold them. Problems name the setting
 * and the file, never what the file holds.
 */
import { ConfigError } from '../errors.js'
import type { ConfigVariable } from './schema.js'
import { defaultReadFile, readText } from './read-file.js'
import type { ReadFile } from './read-file.js'
import { isSet } from './sources.js'
import type { Resolving } from './sources.js'
import type { ReceiverConfig } from './types.js'

function secretFromFile(path: string, readFile: ReadFile, name: ConfigVariable = 'PROOFPOINT_SECRET_FILE'): { secret: string } | { problem: string } {
  const file = readText(path, readFile)
  return 'problem' in file ? { problem: `${name}: ${file.problem}` } : { secret: file.text.trim() }
}

/**
 * The secret in `path`, less surrounding whitespace (Kubernetes Secret volumes and `echo` add a newline, Windows
 * editors a CRLF and a byte-order mark, which `trim` removes too: sent, any of them turns into a 401); throws ConfigError.
 */
export function readSecretFile(path: string, readFile: ReadFile = defaultReadFile): string {
  const result = secretFromFile(path, readFile)
  if ('problem' in result) throw new ConfigError([result.problem])
  return result.secret
}

type SiemSecret = Pick<ReceiverConfig['proofpoint'], 'secret' | 'secretFile'>

/** Reads PROOFPOINT_SECRET_FILE on each call; undefined when the secret is not in a file. */
export function secretFileReader(pp: SiemSecret): (() => string) | undefined {
  const file = pp.secretFile
  return file ? () => readSecretFile(file) : undefined
}

/**
 * The SIEM API secret as the client asks for it on every request: re-read from PROOFPOINT_SECRET_FILE each time,
 * so a rotated Kubernetes Secret is picked up without a restart; else PROOFPOINT_SECRET.
 */
export function secretGetter(pp: SiemSecret): () => string {
  return secretFileReader(pp) ?? (() => pp.secret)
}

/**
 * PROOFPOINT_PRINCIPAL and PROOFPOINT_SECRET or PROOFPOINT_SECRET_FILE (the file read now, so a wrong path stops
 * the receiver at start). `mayBeMissing(name)`: a missing setting is not reported (the command needs no
 * credentials, or the config file that may hold it could not be read or gave it a value of the wrong kind).
 */
export function resolveCredentials(
  { raw, sources, report, problem, readFile }: Resolving,
  mayBeMissing: (name: ConfigVariable) => boolean,
): Pick<ReceiverConfig['proofpoint'], 'principal' | 'secret' | 'secretFile'> {
  const principal = raw.PROOFPOINT_PRINCIPAL.trim()
  if (!isSet(sources, 'PROOFPOINT_PRINCIPAL')) {
    if (!mayBeMissing('PROOFPOINT_PRINCIPAL')) report('PROOFPOINT_PRINCIPAL', 'required: the TAP service principal')
  } else if (principal === '') report('PROOFPOINT_PRINCIPAL', 'must not be empty')

  let secret = ''
  let secretFile: string | undefined
  const hasSecret = isSet(sources, 'PROOFPOINT_SECRET')
  const hasSecretFile = isSet(sources, 'PROOFPOINT_SECRET_FILE')
  if (hasSecret && hasSecretFile && raw.PROOFPOINT_SECRET.trim() === '') {
    // An env-file template's empty line beside the file: not "both", say which one to drop.
    problem('PROOFPOINT_SECRET is set but empty while PROOFPOINT_SECRET_FILE gives the secret: remove PROOFPOINT_SECRET')
  } else if (hasSecret && hasSecretFile) {
    problem('PROOFPOINT_SECRET and PROOFPOINT_SECRET_FILE are both set: give only one')
  } else if (hasSecret) {
    // As from a file: `$(cat file)` keeps a CRLF's CR, a pasted value a trailing newline.
    secret = raw.PROOFPOINT_SECRET.trim()
    if (secret === '') report('PROOFPOINT_SECRET', 'must not be empty')
  } else if (hasSecretFile) {
    secretFile = raw.PROOFPOINT_SECRET_FILE
    if (secretFile.trim() === '') report('PROOFPOINT_SECRET_FILE', 'must not be empty')
    else {
      const result = secretFromFile(secretFile, readFile)
      if ('problem' in result) problem(result.problem)
      else secret = result.secret
    }
  } else if (!mayBeMissing('PROOFPOINT_SECRET') && !mayBeMissing('PROOFPOINT_SECRET_FILE')) {
    problem('PROOFPOINT_SECRET or PROOFPOINT_SECRET_FILE: required: the TAP service secret, or a file holding it')
  }
  return { principal, secret, secretFile }
}

/** The ops server's bearer token: read once, here; surrounding whitespace (a trailing newline) is not part of it. */
export function resolveAuthToken({ raw, sources, report, problem, readFile }: Resolving): { httpAuthTokenFile: string; httpAuthToken: string } | undefined {
  if (!isSet(sources, 'RECEIVER_HTTP_AUTH_TOKEN_FILE')) return undefined
  const tokenFile = raw.RECEIVER_HTTP_AUTH_TOKEN_FILE
  if (tokenFile.trim() === '') {
    report('RECEIVER_HTTP_AUTH_TOKEN_FILE', 'must not be empty')
    return undefined
  }
  const result = secretFromFile(tokenFile, readFile, 'RECEIVER_HTTP_AUTH_TOKEN_FILE')
  if ('problem' in result) {
    problem(result.problem)
    return undefined
  }
  return { httpAuthTokenFile: tokenFile, httpAuthToken: result.secret.trim() }
}
