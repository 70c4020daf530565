/**
 * A forward proxy on loopback for tests: CONNECT tunnels (recording every byte the client sent into them) and
 * absolute-form HTTP requests, or a refusal (407, 502, a closed connection) by `mode`; `echo` answers an absolute-form
 * request 403 with the headers it received, as a careless proxy's error page would. Its URL carries user:password.
 */
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

export interface ForwardProxy {
  url: string
  /** CONNECT targets and absolute-form request URLs, in order. */
  seen: string[]
  /** Proxy-Authorization headers received. */
  auth: string[]
  /** Every byte the client sent into CONNECT tunnels (what the proxy could read of the traffic). */
  tunnelled: Buffer[]
  mode: 'ok' | 407 | 502 | 'close' | 'echo'
}

/** A forward proxy: CONNECT tunnels and absolute-form HTTP requests, or a refusal by `mode`. */
export async function startForwardProxy(t: Test, password: string): Promise<ForwardProxy> {
  const proxy: ForwardProxy = { url: '', seen: [], auth: [], tunnelled: [], mode: 'ok' }
  const server = http.createServer((req, res) => {
    proxy.seen.push(req.url ?? '')
    proxy.auth.push(String(req.headers['proxy-authorization'] ?? ''))
    if (proxy.mode === 'echo') return void res.writeHead(403, { 'content-type': 'text/plain' }).end(JSON.stringify(req.headers))
    if (proxy.mode !== 'ok') return void res.writeHead(typeof proxy.mode === 'number' ? proxy.mode : 502).end()
    const upstream = http.request(req.url ?? '', { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    proxy.seen.push(`CONNECT ${req.url ?? ''}`)
    proxy.auth.push(String(req.headers['proxy-authorization'] ?? ''))
    if (proxy.mode === 'close') return void socket.destroy()
    if (proxy.mode !== 'ok') {
      socket.end(`HTTP/1.1 ${proxy.mode} ${http.STATUS_CODES[proxy.mode] ?? ''}\r\n${proxy.mode === 407 ? 'Proxy-Authenticate: Basic realm="p"\r\n' : ''}Content-Length: 0\r\n\r\n`)
      return
    }
    const [host = '', port = ''] = (req.url ?? '').split(':')
    const upstream = net.connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n')
      if (head.length > 0) proxy.tunnelled.push(head)
      if (head.length > 0) upstream.write(head)
      socket.on('data', (chunk: Buffer) => proxy.tunnelled.push(chunk))
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on('error', () => socket.destroy())
    socket.on('error', () => upstream.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  proxy.url = `http://user:${password}@127.0.0.1:${(server.address() as AddressInfo).port}`
  return proxy
}
