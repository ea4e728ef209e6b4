// Command builders and output parsers of src/verify/http.ts, with outputs as curl, GNU wget,
// busybox wget and the python3 client print them.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  asUser,
  callerIdentity,
  directProbeArgv,
  echoedHeaders,
  headerMismatches,
  httpRequestArgv,
  parseHttpResult,
  parseProbe,
  parseProbeAll,
  parseRawResponse,
  parseSpiffe,
  parseXfcc,
  probeToolsArgv,
  shellJoin,
  shellQuote,
  unprivilegedUser
} from '../../src/verify/http.ts'

describe('command builders', () => {
  test('curl: head and body on stdout, the connected address last, bounded time, no proxy', () => {
    const argv = httpRequestArgv('curl', 'http://echo.sample.svc.cluster.local/', 7)
    assert.deepEqual(argv.slice(0, 7), ['curl', '-sS', '-i', '--noproxy', '*', '--max-time', '7'])
    assert.equal(argv.at(-1), 'http://echo.sample.svc.cluster.local/')
    assert.ok(argv.includes('\\n__mx_remote_ip=%{remote_ip}\\n'))
  })

  test('wget: -S head on stderr, body on stdout, -T timeout', () => {
    assert.deepEqual(httpRequestArgv('wget', 'http://a/', 3), [
      'wget',
      '-S',
      '-O',
      '-',
      '-T',
      '3',
      'http://a/'
    ])
  })

  test('python3: a script, then url and timeout; timeouts are at least 1 s', () => {
    const argv = httpRequestArgv('python3', 'http://a/', 0.2)
    assert.equal(argv[0], 'python3')
    assert.equal(argv[1], '-c')
    assert.match(argv[2] ?? '', /http\.client/)
    assert.deepEqual(argv.slice(3), ['http://a/', '1'])
  })

  test('probe picks the first client through sh, direct probes without sh', () => {
    assert.deepEqual(probeToolsArgv().slice(0, 2), ['sh', '-c'])
    assert.match(probeToolsArgv()[2] ?? '', /curl wget python3/)
    assert.deepEqual(directProbeArgv('curl'), ['curl', '--version'])
    assert.deepEqual(directProbeArgv('python3'), ['python3', '-c', 'pass'])
    assert.equal(parseProbe({ code: 0, stdout: 'wget\n', stderr: '' }), 'wget')
    assert.equal(parseProbe({ code: 127, stdout: '', stderr: '' }), null)
    assert.equal(parseProbe({ code: 0, stdout: 'nc\n', stderr: '' }), null)
    assert.deepEqual(parseProbeAll({ code: 0, stdout: 'curl\npython3\n', stderr: '' }), [
      'curl',
      'python3'
    ])
  })

  test('shell quoting round-trips through sh', () => {
    assert.equal(shellQuote('http://a:80/x'), 'http://a:80/x')
    assert.equal(shellQuote("it's"), `'it'"'"'s'`)
    assert.equal(shellQuote('%{remote_ip}\\n'), `'%{remote_ip}\\n'`)
    assert.equal(shellJoin(['curl', '-w', 'a b']), "curl -w 'a b'")
  })

  test('as another user through sudo -n; the login user runs as is', () => {
    assert.equal(asUser('id -u', undefined, 'mesh'), 'id -u')
    assert.equal(asUser('id -u', 'mesh', 'mesh'), 'id -u')
    assert.equal(asUser('id -u', 'nobody', 'root'), "sudo -n -u nobody -- sh -c 'id -u'")
    assert.equal(unprivilegedUser('root'), 'nobody')
    assert.equal(unprivilegedUser('ubuntu'), 'ubuntu')
  })
})

const CURL_OK = {
  code: 0,
  stdout:
    'HTTP/1.1 200 OK\r\nserver: envoy\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 13\r\n\r\n{"headers":{}}\n__mx_remote_ip=198.19.0.10\n',
  stderr: ''
}

describe('parseHttpResult', () => {
  test('curl answer: status, lower-case headers (repeats joined), body, connected address', () => {
    const out = parseHttpResult('curl', CURL_OK)
    assert.equal(out.response?.status, 200)
    assert.equal(out.response?.headers['server'], 'envoy')
    assert.equal(out.response?.headers['set-cookie'], 'a=1, b=2')
    assert.equal(out.response?.body, '{"headers":{}}')
    assert.equal(out.remoteIp, '198.19.0.10')
  })

  test('curl skips 100 Continue heads', () => {
    const out = parseHttpResult('curl', {
      code: 0,
      stdout:
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nserver: envoy\r\n\r\nno',
      stderr: ''
    })
    assert.equal(out.response?.status, 503)
    assert.equal(out.response?.body, 'no')
  })

  const failures: Array<[string, number, string, string]> = [
    ['curl', 6, 'curl: (6) Could not resolve host: echo.sample.svc.cluster.local', 'dns'],
    [
      'curl',
      7,
      "curl: (7) Failed to connect to 198.19.0.10 port 80 after 0 ms: Couldn't connect to server",
      'refused'
    ],
    ['curl', 28, 'curl: (28) Connection timed out after 3001 milliseconds', 'timeout'],
    ['curl', 56, 'curl: (56) Recv failure: Connection reset by peer', 'reset'],
    ['curl', 52, 'curl: (52) Empty reply from server', 'empty'],
    ['curl', 127, 'sh: 1: curl: not found', 'no-client'],
    ['python3', 6, 'Could not resolve host: x (-2)', 'dns'],
    ['python3', 7, 'Failed to connect: Connection refused', 'refused'],
    ['python3', 28, 'Operation timed out after 3.0 s', 'timeout'],
    ['wget', 4, 'Connecting to 198.19.0.10:80... failed: Connection refused.', 'refused'],
    ['wget', 4, 'wget: unable to resolve host address ‘echo.sample’', 'dns'],
    ['wget', 1, "wget: bad address 'echo.sample.svc.cluster.local'", 'dns'],
    ['wget', 1, 'wget: download timed out', 'timeout'],
    ['wget', 127, 'sh: wget: not found', 'no-client']
  ]
  for (const [tool, code, stderr, kind] of failures) {
    test(`${tool} exit ${code}: ${kind}`, () => {
      const out = parseHttpResult(tool as 'curl' | 'wget' | 'python3', {
        code,
        stdout: tool === 'curl' ? '\n__mx_remote_ip=\n' : '',
        stderr: stderr + '\n'
      })
      assert.equal(out.response, undefined)
      assert.equal(out.failure?.kind, kind)
      assert.equal(out.failure?.message, stderr)
    })
  }

  test('GNU wget: the last head on stderr, body on stdout', () => {
    const out = parseHttpResult('wget', {
      code: 0,
      stdout: '{"headers":{"x-forwarded-client-cert":"By=a;URI=b"}}',
      stderr:
        '--2026-11-23--  http://198.18.2.2:8080/\nConnecting to 198.18.2.2:8080... connected.\nHTTP request sent, awaiting response... \n  HTTP/1.1 200 OK\n  server: envoy\n  content-length: 50\nLength: 50\nSaving to: ‘STDOUT’\n'
    })
    assert.equal(out.response?.status, 200)
    assert.equal(out.response?.headers['server'], 'envoy')
    assert.equal(out.response?.headers['content-length'], '50')
    assert.equal(echoedHeaders(out.response?.body ?? '')?.['x-forwarded-client-cert'], 'By=a;URI=b')
  })

  test('busybox wget with an error status still gives the head', () => {
    const out = parseHttpResult('wget', {
      code: 1,
      stdout: '',
      stderr:
        'Connecting to 198.18.2.2:8080 (198.18.2.2:8080)\n  HTTP/1.1 503 Service Unavailable\n  server: envoy\n  connection: close\nwget: server returned error: HTTP/1.1 503 Service Unavailable\n'
    })
    assert.equal(out.response?.status, 503)
    assert.equal(out.response?.headers['connection'], 'close')
  })

  test('python3: head on stdout, the connected address on stderr', () => {
    const out = parseHttpResult('python3', {
      code: 0,
      stdout: 'HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.2\r\n\r\nhello',
      stderr: '__mx_remote_ip=198.19.0.10\n'
    })
    assert.equal(out.response?.status, 200)
    assert.equal(out.response?.headers['server'], 'BaseHTTP/0.6 Python/3.11.2')
    assert.equal(out.remoteIp, '198.19.0.10')
  })

  test('garbage is not a response', () => {
    assert.equal(parseRawResponse('hello\r\n\r\n'), null)
    const out = parseHttpResult('curl', { code: 0, stdout: 'hello', stderr: '' })
    assert.equal(out.response, undefined)
    assert.equal(out.failure?.kind, 'other')
  })
})

describe('echo bodies and identities', () => {
  test('echoed headers: JSON {headers}, names lower-cased; anything else is null', () => {
    assert.deepEqual(echoedHeaders('{"headers":{"X-Forwarded-Client-Cert":"By=a"}}'), {
      'x-forwarded-client-cert': 'By=a'
    })
    assert.equal(echoedHeaders('<html>'), null)
    assert.equal(echoedHeaders('{"headers":[1]}'), null)
    assert.equal(echoedHeaders('null'), null)
  })

  test('XFCC: elements, quoted values, the last element names the caller', () => {
    const value =
      'By=spiffe://cluster.local/ns/a/sa/x;Hash=abc;Subject="CN=a,O=b";URI=spiffe://cluster.local/ns/b/sa/y,By=spiffe://cluster.local/ns/vm/sa/vm-sa;URI=spiffe://cluster.local/ns/sample/sa/sleep'
    const parsed = parseXfcc(value)
    assert.equal(parsed.length, 2)
    assert.equal(parsed[0]?.subject, 'CN=a,O=b')
    assert.equal(parsed[0]?.hash, 'abc')
    assert.equal(callerIdentity(value), 'spiffe://cluster.local/ns/sample/sa/sleep')
    assert.equal(
      callerIdentity('By=spiffe://cluster.local/ns/vm/sa/vm-sa;URI=tcp://198.18.0.10:4242'),
      'tcp://198.18.0.10:4242'
    )
    assert.equal(callerIdentity(undefined), null)
    assert.deepEqual(parseSpiffe('spiffe://td/ns/n/sa/s'), {
      trustDomain: 'td',
      namespace: 'n',
      serviceAccount: 's'
    })
    assert.equal(parseSpiffe('tcp://1.2.3.4:5'), null)
  })

  test('header rule: present and contains the text, names and text in any case', () => {
    const headers = { server: 'envoy', 'x-envoy-upstream-service-time': '3' }
    assert.deepEqual(headerMismatches(headers, { Server: 'Envoy' }), [])
    assert.deepEqual(headerMismatches(headers, { server: 'nginx', 'x-missing': '' }), [
      '`server: envoy` does not contain "nginx"',
      'no `x-missing` header'
    ])
  })
})
