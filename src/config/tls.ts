/**
 * TLS settings: PEM files read and checked at start, so a wrong path or a broken file stops the receiver with a
 * message naming the setting, rather than failing the first request. PROOFPOINT_CA_FILE for the SIEM API;
 * OTEL_EXPORTER_OTLP_[LOGS_]CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY for the collector. Problems name the
 * file, never its contents (a key is a secret).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { quote } from './formats.js'
import type { ConfigVariable, RawConfig } from './schema.js'
import { fsReason } from './read-file.js'
import type { ReadFile } from './read-file.js'
import { isSet } from './sources.js'
import type { OtelVariable, PickSetting, Report, Resolving, Setting, Sources } from './sources.js'
import type { ReceiverConfig } from './types.js'

export type TlsVariable = Extract<OtelVariable, `${string}_CERTIFICATE` | `${string}_CLIENT_KEY`>
const TLS_VARIABLES: readonly TlsVariable[] = [
  'OTEL_EXPORTER_OTLP_CERTIFICATE',
  'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE',
  'OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE',
  'OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE',
  'OTEL_EXPORTER_OTLP_CLIENT_KEY',
  'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY',
]

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g
const PEM_PRIVATE_KEY = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----/

/**
 * The PEM certificates in `text`, each parsed; a problem when there is none or one is broken. Nothing of the
 * file's contents goes into a problem.
 */
function pemCertificates(text: string, path: string): { certs: X509Certificate[] } | { problem: string } {
  const blocks = text.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) {
    return { problem: `${quote(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----); a DER file converts with openssl x509 -inform der` }
  }
  const certs: X509Certificate[] = []
  for (const [i, block] of blocks.entries()) {
    try {
      certs.push(new X509Certificate(block))
    } catch {
      return { problem: `certificate ${i + 1} in ${quote(path)} cannot be parsed` }
    }
  }
  return { certs }
}

function belongsTo(key: KeyObject, cert: X509Certificate): boolean {
  try {
    return cert.checkPrivateKey(key)
  } catch {
    return false
  }
}

/** The private key in `text`. Problems never quote the file (it is a secret). */
function pemPrivateKey(text: string, path: string): { key: KeyObject } | { problem: string } {
  const header = PEM_PRIVATE_KEY.exec(text)
  if (!header) return { problem: `${quote(path)} holds no PEM private key (-----BEGIN PRIVATE KEY-----)` }
  const encrypted = `${quote(path)} holds an encrypted private key: OpenTelemetry has no passphrase setting; give the key unencrypted (e.g. openssl pkey -in key.pem -out plain.pem) in a file only the receiver can read`
  if (header[1] === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type: 4,ENCRYPTED/m.test(text)) return { problem: encrypted }
  try {
    return { key: createPrivateKey(text) }
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === 'ERR_MISSING_PASSPHRASE') return { problem: encrypted }
    return { problem: `the private key in ${quote(path)} cannot be parsed` }
  }
}

/**
 * OTEL_EXPORTER_OTLP_[LOGS_]CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY: each a PEM file path, read now, so a
 * wrong path stops the receiver at start rather than at the first export. Each pair resolves on its own (the
 * _LOGS_ variable wins); the client certificate and key must come together and belong together.
 */
export function resolveOtlpTls(pick: PickSetting, report: Report, readFile: ReadFile): ReceiverConfig['otel']['tls'] {
  const read = (setting: Setting | undefined): { name: OtelVariable; path: string; text: string } | undefined => {
    if (!setting) return undefined
    const { name, value: path } = setting
    if (path === '') {
      report(name, 'is blank: give the path of a PEM file, or leave it unset')
      return undefined
    }
    const text = readPemFile(name, path, report, readFile)
    return text === undefined ? undefined : { name, path, text }
  }
  const caSetting = pick('OTEL_EXPORTER_OTLP_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE')
  const certSetting = pick('OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE')
  const keySetting = pick('OTEL_EXPORTER_OTLP_CLIENT_KEY', 'OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY')
  if (certSetting && !keySetting) {
    report(certSetting.name, 'a client certificate needs its private key: set OTEL_EXPORTER_OTLP_CLIENT_KEY (or OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY) too')
  }
  if (keySetting && !certSetting) {
    report(keySetting.name, 'a client key needs its certificate: set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE (or OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE) too')
  }

  const tls: NonNullable<ReceiverConfig['otel']['tls']> = {}
  const ca = read(caSetting)
  if (ca) {
    const parsed = pemCertificates(ca.text, ca.path)
    if ('problem' in parsed) report(ca.name, parsed.problem)
    else tls.ca = ca.text
  }
  const cert = read(certSetting)
  let clientCert: X509Certificate | undefined
  if (cert) {
    const parsed = pemCertificates(cert.text, cert.path)
    if ('problem' in parsed) report(cert.name, parsed.problem)
    else {
      clientCert = parsed.certs[0]
      tls.cert = cert.text
    }
  }
  const key = read(keySetting)
  if (key) {
    const parsed = pemPrivateKey(key.text, key.path)
    if ('problem' in parsed) report(key.name, parsed.problem)
    else if (cert && clientCert && !belongsTo(parsed.key, clientCert)) {
      report(key.name, `${quote(key.path)} is not the private key of the certificate in ${quote(cert.path)} (${cert.name})`)
    } else tls.key = key.text
  }
  return Object.keys(tls).length > 0 ? tls : undefined
}

/** The text of the PEM file `path` names, or undefined after reporting why it cannot be used (unreadable, empty). */
function readPemFile(name: ConfigVariable, path: string, report: Report, readFile: ReadFile): string | undefined {
  let text: string
  try {
    text = readFile(path)
  } catch (err) {
    report(name, `cannot read ${quote(path)} (${fsReason(err)})`)
    return undefined
  }
  if (text.trim() === '') {
    report(name, `${quote(path)} is empty`)
    return undefined
  }
  return text
}

/**
 * PROOFPOINT_CA_FILE, read and parsed now (as OTEL_EXPORTER_OTLP_CERTIFICATE), so a wrong path stops the receiver at
 * start. It replaces the system CAs; TLS verification itself is never switched off.
 */
export function resolveApiCa({ raw, sources, report, readFile }: Resolving): { caFile: string; ca: string } | undefined {
  const caFile = raw.PROOFPOINT_CA_FILE
  if (!isSet(sources, 'PROOFPOINT_CA_FILE') || caFile === '') return undefined
  const text = readPemFile('PROOFPOINT_CA_FILE', caFile, report, readFile)
  if (text === undefined) return undefined
  const parsed = pemCertificates(text, caFile)
  if ('problem' in parsed) {
    report('PROOFPOINT_CA_FILE', parsed.problem)
    return undefined
  }
  return { caFile, ca: text }
}

/** The OTLP TLS file paths that are set, as given (for check-config: it shows paths, never contents). */
export function tlsFilePaths(raw: RawConfig, sources: Sources): Partial<Record<TlsVariable, string>> {
  const paths: Partial<Record<TlsVariable, string>> = {}
  for (const name of TLS_VARIABLES) if (isSet(sources, name)) paths[name] = raw[name].trim()
  return paths
}
