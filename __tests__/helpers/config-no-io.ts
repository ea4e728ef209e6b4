// Preload (`node --import`) for the "validate touches nothing" test: every way to open a
// network connection or resolve a name records the attempt and throws, so an attempt both fails
// the command and shows in the report. File writes are denied by Node's permission model.
import dgram from 'node:dgram'
import dns from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'

export const attempts: string[] = []

function blocked(what: string): never {
  attempts.push(what)
  throw new Error(`blocked by the test: ${what}`)
}

net.Socket.prototype.connect = function connect(): never {
  return blocked('net.Socket.connect')
}
net.Server.prototype.listen = function listen(): never {
  return blocked('net.Server.listen')
}
tls.connect = (): never => blocked('tls.connect')
http.request = (): never => blocked('http.request')
http.get = (): never => blocked('http.get')
https.request = (): never => blocked('https.request')
https.get = (): never => blocked('https.get')
dgram.createSocket = (): never => blocked('dgram.createSocket')
// their types carry a __promisify__ member; the replacement only needs to throw
const callbacks = dns as unknown as Record<string, unknown>
callbacks['lookup'] = (): never => blocked('dns.lookup')
callbacks['resolve'] = (): never => blocked('dns.resolve')
dns.promises.lookup = (): never => blocked('dns.promises.lookup')
dns.promises.resolve = (): never => blocked('dns.promises.resolve')
globalThis.fetch = (): never => blocked('fetch')
;(globalThis as { __meshExpansionNetworkAttempts?: string[] }).__meshExpansionNetworkAttempts =
  attempts
