// The lab's cluster DNS (the dns-ilb of the pre-1.1 procedures): answers A queries from the table.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { answer, parseQuestion, startClusterDns } from '../../lab/mesh/clusterDns.ts'

function query(name: string, type = 1, id = 0x1234): Buffer {
  const labels = name
    .split('.')
    .map(label => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)]))
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, type, 0, 1])])
}

const table = { 'echo.sample.svc.cluster.local': '198.19.0.10' }

describe('lab cluster DNS', () => {
  test('parses the question, case-insensitively', () => {
    assert.equal(
      parseQuestion(query('Echo.Sample.svc.cluster.local'))?.name,
      'echo.sample.svc.cluster.local'
    )
    assert.equal(parseQuestion(Buffer.from([1, 2, 3])), null)
  })

  test('an A record for a known name, NXDOMAIN for an unknown one, no record for AAAA', () => {
    const known = answer(query('echo.sample.svc.cluster.local'), table)
    assert.ok(known)
    assert.equal(known.readUInt16BE(0), 0x1234)
    assert.equal(known[3]! & 0x0f, 0)
    assert.equal(known.readUInt16BE(6), 1)
    assert.deepEqual([...known.subarray(known.length - 4)], [198, 19, 0, 10])
    const unknown = answer(query('nope.sample.svc.cluster.local'), table)
    assert.equal(unknown![3]! & 0x0f, 3)
    assert.equal(unknown!.readUInt16BE(6), 0)
    const v6 = answer(query('echo.sample.svc.cluster.local', 28), table)
    assert.equal(v6![3]! & 0x0f, 0)
    assert.equal(v6!.readUInt16BE(6), 0)
  })

  test('serves over UDP on loopback', async () => {
    const dns = await startClusterDns({ host: '127.0.0.1', port: 0, names: async () => table })
    const client = createSocket('udp4')
    try {
      const reply = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer in 5 s')), 5000)
        client.once('message', message => {
          clearTimeout(timer)
          resolve(message)
        })
        client.send(query('echo.sample.svc.cluster.local'), dns.port, '127.0.0.1')
      })
      assert.deepEqual([...reply.subarray(reply.length - 4)], [198, 19, 0, 10])
      assert.equal(dns.queries(), 1)
    } finally {
      client.close()
      await dns.close()
    }
  })
})
