/**
 * TLS settings: PEM files read and checked at start, so a wrong path or a broken file stops the receiver with a
 * message naming the setting, rather than failing the first request. Problems name the file, never its contents (a
 * key is a secret).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { errorCodeOf } from '../http-util.js'
import { quote } from './formats.js'
import { CONFIG_VARIABLES } from './schema.js'
import type { ConfigVariable, RawConfig } from './schema.js'
import { readText } from './read-file.js'
import type { ReadFile } from './read-file.js'
import { isSet } from './sources.js'
import type { OtelVariable, PickSetting, Report, Resolving, Setting, Sources } from './sources.js'
import type { ReceiverConfig } from './types.js'

export type TlsVariable = Extract<OtelVariable, `${string}_CERTIFICATE` | `${string}_CLIENT_KEY`>
const TLS_VARIABLES = CONFIG_VARIABLES.filter((name): name is TlsVariable => /^OTEL_.*_(CERTIFICATE|CLIENT_KEY)$/.test(name))

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g
const PEM_PRIVATE_KEY = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----/

interface PemFile {
  name: ConfigVariable
  path: string
  text: string
}

/** The file `path` names, or undefined once what makes it unusable (unreadable, empty) is reported. */
function readPem(name: ConfigVariable, path: string, report: Report, readFile: ReadFile): PemFile | undefined {
  const file = readText(path, readFile)
  if ('text' in file) return { name, path, text: file.text }
  report(name, file.problem)
  return undefined
}

/** The PEM certificates in the file, each parsed; undefined once it is reported that there is none or one is broken. */
function pemCertificates({ name, path, text }: PemFile, report: Report): X509Certificate[] | undefined {
  const blocks = text.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) {
    report(name, `${quote(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----); a DER file converts with openssl x509 -inform der`)
    return undefined
  }
  const certs: X509Certificate[] = []
  for (const [i, block] of blocks.entries()) {
    try {
      certs.push(new X509Certificate(block))
    } catch {
      report(name, `certificate ${i + 1} in ${quote(path)} cannot be parsed`)
      return undefined
    }
  }
  return certs
}

function belongsTo(key: KeyObject, cert: X509Certificate): boolean {
  try {
    return cert.checkPrivateKey(key)
  } catch {
    return false
  }
}

function pemPrivateKey(text: string, path: string): { key: KeyObject } | { problem: string } {
  const header = PEM_PRIVATE_KEY.exec(text)
  if (!header) return { problem: `${quote(path)} holds no PEM private key (-----BEGIN PRIVATE KEY-----)` }
  const encrypted = `${quote(path)} holds an encrypted private key: OpenTelemetry has no passphrase setting; give the key unencrypted (e.g. openssl pkey -in key.pem -out plain.pem) in a file only the receiver can read`
  if (header[1] === 'ENCRYPTED PRIVATE KEY' || /^Proc-Type: 4,ENCRYPTED/m.test(text)) return { problem: encrypted }
  try {
    return { key: createPrivateKey(text) }
  } catch (err) {
    if (errorCodeOf(err) === 'ERR_MISSING_PASSPHRASE') return { problem: encrypted }
    return { problem: `the private key in ${quote(path)} cannot be parsed` }
  }
}

/**
 * OTEL_EXPORTER_OTLP_[LOGS_]CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY: each pair resolves on its own (the _LOGS_
 * variable wins); the client certificate and key must come together and belong together.
 */
export function resolveOtlpTls(pick: PickSetting, report: Report, readFile: ReadFile): ReceiverConfig['otel']['tls'] {
  const read = (setting: Setting | undefined): PemFile | undefined => {
    if (setting?.value === '') report(setting.name, 'is blank: give the path of a PEM file, or leave it unset')
    else if (setting) return readPem(setting.name, setting.value, report, readFile)
    return undefined
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
  if (ca && pemCertificates(ca, report)) tls.ca = ca.text
  const cert = read(certSetting)
  const clientCert = cert && pemCertificates(cert, report)?.[0]
  if (cert && clientCert) tls.cert = cert.text
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

/** PROOFPOINT_CA_FILE: it replaces the system CAs; TLS verification itself is never switched off. */
export function resolveApiCa({ raw, sources, report, readFile }: Resolving): { caFile: string; ca: string } | undefined {
  if (!isSet(sources, 'PROOFPOINT_CA_FILE')) return undefined
  const file = readPem('PROOFPOINT_CA_FILE', raw.PROOFPOINT_CA_FILE, report, readFile)
  return file && pemCertificates(file, report) ? { caFile: file.path, ca: file.text } : undefined
}

/** The OTLP TLS file paths that are set, as given (for check-config: it shows paths, never contents). */
export function tlsFilePaths(raw: RawConfig, sources: Sources): Partial<Record<TlsVariable, string>> {
  const paths: Partial<Record<TlsVariable, string>> = {}
  for (const name of TLS_VARIABLES) if (isSet(sources, name)) paths[name] = raw[name].trim()
  return paths
}
