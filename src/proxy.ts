/**
 * Outbound proxy selection, pure: HTTPS_PROXY for https targets, HTTP_PROXY for http ones, NO_PROXY to bypass (lower-case
 * names win, as curl does), or an explicit setting. The agents that tunnel through it live with their clients.
 */
import { BlockList, isIP } from 'node:net'

export interface ProxyChoice {
  /** The proxy URL (may hold credentials: never log it, use redactUrl). */
  url: string
  /** The variable it came from, for messages and check-config. */
  from: string
}

type Env = Readonly<Record<string, string | undefined>>

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 }

function envValue(env: Env, name: string): { value: string; from: string } | undefined {
  for (const key of [name.toLowerCase(), name.toUpperCase()]) {
    const v = env[key]?.trim()
    if (v) return { value: v, from: key }
  }
  return undefined
}

/**
 * Whether NO_PROXY (comma or space separated: `*`, hosts, `.domain` or `domain` suffixes, `host:port`, IP literals,
 * IPv4 and IPv6 CIDR blocks such as `10.0.0.0/8`: grpc-js and Go read those, and cluster networks are listed so)
 * covers the URL.
 */
export function bypassesProxy(target: URL, noProxy: string): boolean {
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  const hostIp = isIP(host)
  const port = Number(target.port) || DEFAULT_PORTS[target.protocol] || 0
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') return true
    const cidr = /^\[?([0-9a-f.:]+)\]?\/(\d{1,3})$/.exec(entry)
    if (cidr) {
      if (hostIp !== 0 && inBlock(host, hostIp, cidr[1] ?? '', Number(cidr[2]))) return true
      continue
    }
    if (isIP(entry) === 6) {
      // A bare IPv6 address (`::1`): its colons are not a port.
      if (hostIp === 6 && sameIp(host, entry)) return true
      continue
    }
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry)
    if (!m) continue
    const name = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1').replace(/^\*?\./, '.')
    if (m[2] !== undefined && Number(m[2]) !== port) continue
    if (isIP(name) === 6 ? hostIp === 6 && sameIp(host, name) : name.startsWith('.') ? host.endsWith(name) || host === name.slice(1) : host === name || host.endsWith(`.${name}`)) return true
  }
  return false
}

function sameIp(a: string, b: string): boolean {
  return inBlock(a, 6, b, 128)
}

/** Whether an IP address lies in a CIDR block of its own family. */
function inBlock(address: string, family: number, network: string, prefix: number): boolean {
  const type = isIP(network) === 4 ? 'ipv4' : isIP(network) === 6 ? 'ipv6' : undefined
  if (type === undefined || (type === 'ipv4' ? 4 : 6) !== family || prefix > (type === 'ipv4' ? 32 : 128)) return false
  const list = new BlockList()
  list.addSubnet(network, prefix, type)
  return list.check(address, type)
}

/** `explicit` (a setting such as PROOFPOINT_PROXY_URL) wins over the environment; undefined: connect directly. */
export function proxyFor(target: string, env: Env, explicit?: { url: string; from: string }): ProxyChoice | undefined {
  if (explicit && explicit.url.trim() !== '') return { url: explicit.url.trim(), from: explicit.from }
  let url: URL
  try {
    url = new URL(target)
  } catch {
    return undefined
  }
  const proxy = envValue(env, url.protocol === 'https:' ? 'https_proxy' : 'http_proxy')
  if (proxy === undefined) return undefined
  const noProxy = envValue(env, 'no_proxy')
  if (noProxy && bypassesProxy(url, noProxy.value)) return undefined
  return { url: proxy.value, from: proxy.from }
}
