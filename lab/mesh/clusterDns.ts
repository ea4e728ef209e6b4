// The lab cluster's DNS server as a VM outside the cluster reaches it: the `dns-ilb` of the
// pre-1.1 procedures (mesh-expansion.yaml exposed kube-dns on an internal load balancer, and the
// VM's dnsmasq sends *.svc.cluster.local there). UDP only, A records only, answered from the
// same name table the istiod stand-in pushes (Services' ClusterIPs, ServiceEntry addresses).
import { createSocket, type Socket } from 'node:dgram'

export interface ClusterDns {
  readonly address: string
  readonly port: number
  /** queries answered so far (tests read it) */
  readonly queries: () => number
  close(): Promise<void>
}

export interface ClusterDnsOptions {
  host: string
  /** default 53 */
  port?: number
  /** name -> IPv4; read at most once a second */
  names: () => Promise<Record<string, string>>
}

interface Question {
  name: string
  type: number
  /** the question section as received, echoed in the answer */
  raw: Buffer
}

/** The first question of a query; null when the packet is not one we can answer. */
export function parseQuestion(packet: Buffer): Question | null {
  if (packet.length < 12 || packet.readUInt16BE(4) < 1) return null
  const labels: string[] = []
  let offset = 12
  for (let i = 0; i < 128; i++) {
    const length = packet[offset]
    if (length === undefined || length > 63) return null
    offset += 1
    if (length === 0) break
    labels.push(packet.subarray(offset, offset + length).toString('latin1'))
    offset += length
  }
  if (offset + 4 > packet.length) return null
  const type = packet.readUInt16BE(offset)
  return {
    name: labels.join('.').toLowerCase(),
    type,
    raw: packet.subarray(12, offset + 4)
  }
}

const TYPE_A = 1
const RCODE_NXDOMAIN = 3

/** The response to `query` given the table: an A record, an empty answer, or NXDOMAIN. */
export function answer(query: Buffer, table: Readonly<Record<string, string>>): Buffer | null {
  const question = parseQuestion(query)
  if (!question) return null
  const address = table[question.name]
  const header = Buffer.alloc(12)
  query.copy(header, 0, 0, 2) // id
  // QR, opcode from the query, AA, RD copied, RA
  const rd = (query[2] ?? 0) & 0x01
  header[2] = 0x84 | rd
  header[3] = 0x80 | (address === undefined ? RCODE_NXDOMAIN : 0)
  header.writeUInt16BE(1, 4)
  const records: Buffer[] = []
  if (address !== undefined && question.type === TYPE_A) {
    const record = Buffer.alloc(16)
    record.writeUInt16BE(0xc00c, 0) // name: pointer to the question
    record.writeUInt16BE(TYPE_A, 2)
    record.writeUInt16BE(1, 4) // IN
    record.writeUInt32BE(5, 6) // TTL
    record.writeUInt16BE(4, 10)
    address.split('.').forEach((octet, i) => record.writeUInt8(Number(octet) & 0xff, 12 + i))
    records.push(record)
  }
  header.writeUInt16BE(records.length, 6)
  return Buffer.concat([header, question.raw, ...records])
}

export async function startClusterDns(options: ClusterDnsOptions): Promise<ClusterDns> {
  const socket: Socket = createSocket('udp4')
  let table: Record<string, string> = {}
  let readAt = 0
  let count = 0
  const current = async (): Promise<Record<string, string>> => {
    if (Date.now() - readAt > 1000) {
      try {
        table = await options.names()
        readAt = Date.now()
      } catch {
        // keep the last table: the API may be restarting
      }
    }
    return table
  }
  socket.on('message', (message, remote) => {
    void current().then(names => {
      const response = answer(message, names)
      if (!response) return
      count++
      socket.send(response, remote.port, remote.address)
    })
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(options.port ?? 53, options.host, () => {
      socket.off('error', reject)
      resolve()
    })
  })
  return {
    address: options.host,
    port: socket.address().port,
    queries: () => count,
    close: () => new Promise<void>(resolve => socket.close(() => resolve()))
  }
}
