// The sidecar stand-in against the istiod stand-in, in a network namespace that plays the VM
// (lab/mesh/sandbox.ts): istio-start.sh and the agent from the package's files, run as they
// would be by systemd. Correct files make it ready and it proxies with `server: envoy`; a wrong
// root cert, an expired token or a missing hosts entry keep it not ready with the reason logged.
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { createServer, get, type Server } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import { before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { labTestOptions } from '../helpers/lab.ts'
import { until } from '../helpers/wait.ts'
import { createLabCa, type LabCa } from '../../lab/pki.ts'
import { buildSidecarDeb } from '../../lab/mesh/deb.ts'
import {
  renderClusterEnv,
  renderHosts,
  renderMeshConfig,
  type VmFilesInput
} from '../../lab/mesh/files.ts'
import { startIstiod, type Istiod } from '../../lab/mesh/istiod.ts'
import { legacyPilotNames } from '../../lab/mesh/index.ts'
import { createAgentSandbox, type AgentSandbox } from '../../lab/mesh/sandbox.ts'
import { createLocalTokenAuthority, type LocalTokenAuthority } from '../../lab/mesh/tokens.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'

const run = promisify(execFile)

interface Scenario {
  sandbox: AgentSandbox
  istiod: Istiod
  echo: Server
  close(): Promise<void>
}

function httpGet(
  url: string,
  timeoutMs = 3000
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8')
        })
      )
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)))
    req.on('error', reject)
  })
}

/** An echo service on the runner: answers with the request's headers as JSON. */
function startEcho(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ path: req.url, headers: req.headers })
    res.writeHead(200, {
      'content-type': 'application/json',
      server: 'echo',
      'content-length': Buffer.byteLength(body)
    })
    res.end(body)
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve(server))
  })
}

/** Where the package's scripts find their files in the sandbox (the VM's paths under its root). */
function agentPaths({ sandbox }: { sandbox: AgentSandbox }): Record<string, string> {
  return {
    ISTIO_SIDECAR_CONFIG: join(sandbox.root, 'var/lib/istio/envoy/sidecar.env'),
    ISTIO_CLUSTER_CONFIG: join(sandbox.root, 'var/lib/istio/envoy/cluster.env'),
    ISTIO_BIN_BASE: join(sandbox.root, 'usr/local/bin'),
    ISTIO_LOG_DIR: join(sandbox.root, 'var/log/istio'),
    PROV_CERT: './etc/certs',
    OUTPUT_CERTS: './etc/certs'
  }
}

const files: Omit<VmFilesInput, 'istiodIp'> = {
  workloadName: 'vm-app',
  namespace: 'vm',
  serviceAccount: 'vm-sa',
  inboundPorts: [9080],
  labels: { app: 'vm-app', version: 'v1' }
}

describe('sidecar stand-in in a network namespace', labTestOptions(), () => {
  let ca: LabCa
  let tokens: LocalTokenAuthority

  before(async () => {
    ca = await createLabCa()
    tokens = createLocalTokenAuthority()
  })

  async function scenario(
    change: {
      rootCertPem?: string
      token?: string
      hosts?: boolean
      validitySeconds?: number
      probe?: Record<string, unknown>
      /** A workload certificate in /etc/certs from an earlier run (a restart). */
      certificate?: { certPem: string; keyPem: string }
      /** More environment for istio-start.sh (e.g. ISTIO_CUSTOM_IP_TABLES). */
      env?: Record<string, string>
    } = {}
  ): Promise<Scenario> {
    const sandbox = await createAgentSandbox()
    let istiod: Istiod | undefined
    let echo: Server | undefined
    const close = async (): Promise<void> => {
      await sandbox.close()
      await istiod?.close()
      await new Promise(resolve => (echo ? echo.close(resolve) : resolve(undefined)))
    }
    try {
      istiod = await startIstiod({
        host: sandbox.gateway,
        port: 15012,
        ca,
        reviewer: tokens.reviewer,
        names: () => ({ 'echo.sample.svc.cluster.local': sandbox.gateway }),
        heartbeatSeconds: 1,
        ...(change.validitySeconds ? { certificateValiditySeconds: change.validitySeconds } : {})
      })
      echo = await startEcho(sandbox.gateway, 8080)
      const input = {
        ...files,
        istiodIp: sandbox.gateway,
        ...(change.probe ? { probe: change.probe } : {})
      }
      await sandbox.writeFile(
        'var/lib/istio/envoy/cluster.env',
        renderClusterEnv(input),
        'istio-proxy'
      )
      await sandbox.writeFile('etc/istio/config/mesh', renderMeshConfig(input), 'istio-proxy')
      await sandbox.writeFile(
        'etc/certs/root-cert.pem',
        change.rootCertPem ?? ca.certPem,
        'istio-proxy'
      )
      if (change.certificate) {
        await sandbox.writeFile(
          'etc/certs/cert-chain.pem',
          change.certificate.certPem,
          'istio-proxy'
        )
        await sandbox.writeFile(
          'etc/certs/key.pem',
          change.certificate.keyPem,
          'istio-proxy',
          0o600
        )
      }
      const token = change.token ?? tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa' })
      await sandbox.writeFile('var/run/secrets/tokens/istio-token', token, 'istio-proxy', 0o600)
      await sandbox.setHosts(change.hosts === false ? [] : [renderHosts(input).trim()])
      sandbox.spawn([join(sandbox.root, 'usr/local/bin/istio-start.sh')], {
        ...agentPaths({ sandbox }),
        ISTIO_LAB_HEARTBEAT_SECONDS: '1',
        ...change.env
      })
      return { sandbox, istiod, echo, close }
    } catch (error) {
      await close()
      throw error
    }
  }

  const log = (s: Scenario): Promise<string> =>
    s.sandbox.readFile('var/log/istio/istio.log').catch(() => '')
  const ready = (s: Scenario) => httpGet(`http://${s.sandbox.address}:15021/healthz/ready`)

  async function expectNotReady(s: Scenario, reasons: string[]): Promise<string> {
    const text = await until(`"${reasons.join('" and "')}" in istio.log`, 20_000, async () => {
      const current = await log(s)
      return reasons.every(reason => current.includes(reason)) ? current : undefined
    })
    const readiness = await ready(s)
    assert.equal(readiness.status, 503)
    assert.match(readiness.body, /not ready/)
    assert.deepEqual(s.istiod.connectedProxies(), [])
    return text
  }

  test('builds istio-sidecar.deb with the real layout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mxmesh-deb-'))
    try {
      const deb = await buildSidecarDeb(dir, { version: '1.30.3' })
      assert.equal(deb, join(dir, 'istio-sidecar.deb'))
      const { stdout: fields } = await run('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Depends'])
      assert.match(fields, /Package: istio-sidecar/)
      assert.match(fields, /Version: 1\.30\.3/)
      assert.match(fields, /Depends: iproute2, iptables, sudo, hostname/)
      const { stdout: contents } = await run('dpkg-deb', ['-c', deb])
      for (const path of [
        './usr/local/bin/istio-start.sh',
        './usr/local/bin/pilot-agent',
        './usr/local/bin/envoy',
        './lib/systemd/system/istio.service',
        './var/lib/istio/envoy/sidecar.env'
      ]) {
        assert.match(
          contents,
          new RegExp(`-rw[-x]r-[-x]r-[-x] root/root .* ${path.replace(/\./g, '\\.')}\n`)
        )
      }
      const { stdout: unit } = await run('sh', [
        '-c',
        `dpkg-deb --fsys-tarfile '${deb}' | tar -xO ./lib/systemd/system/istio.service`
      ])
      assert.match(unit, /^ExecStart=\/usr\/local\/bin\/istio-start\.sh$/m)
      assert.match(unit, /^ExecStopPost=\/usr\/local\/bin\/istio-start\.sh clean$/m)
      assert.match(unit, /^Restart=always$/m)
      assert.match(unit, /^RestartSec=10$/m)
      // 1.24 on, as upstream's package: no istio-clean-iptables anywhere, the script cleans with
      // istio-iptables --cleanup-only, and the agent knows the version it plays
      assert.doesNotMatch(contents, /clean-iptables/)
      const packaged = (file: string): Promise<string> =>
        run('sh', [
          '-c',
          `dpkg-deb --fsys-tarfile '${deb}' | tar -xO ./usr/local/bin/${file}`
        ]).then(out => out.stdout)
      const script = await packaged('istio-start.sh')
      assert.match(script, /^ISTIO_CLEAN_IPTABLES='istio-iptables --cleanup-only'$/m)
      assert.doesNotMatch(script, /istio-clean-iptables'/)
      assert.match(await packaged('pilot-agent'), /^VERSION = '1\.30\.3-lab'/m)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('correct files: ready, connected, capturing and proxying with server: envoy', async () => {
    const s = await scenario()
    try {
      await until('readiness 200', 30_000, async () =>
        (await ready(s)).status === 200 ? true : undefined
      )
      // pilot-agent's status port answers readiness too.
      assert.equal((await httpGet(`http://${s.sandbox.address}:15020/healthz/ready`)).status, 200)
      const text = await log(s)
      assert.match(
        text,
        /generated new workload certificate for spiffe:\/\/cluster\.local\/ns\/vm\/sa\/vm-sa/
      )
      const proxy = await s.istiod.waitForProxy(p => p.podName !== '', 5000)
      assert.equal(proxy.spiffeId, 'spiffe://cluster.local/ns/vm/sa/vm-sa')
      assert.equal(proxy.workloadName, 'vm-app')
      assert.equal(proxy.ip, s.sandbox.address)

      const chain = await s.sandbox.readFile('etc/certs/cert-chain.pem')
      assert.match(chain, /BEGIN CERTIFICATE/)
      assert.match(await s.sandbox.readFile('etc/certs/key.pem'), /PRIVATE KEY/)
      const san = spawnSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName'], {
        input: chain,
        encoding: 'utf8'
      })
      assert.match(san.stdout, /URI:spiffe:\/\/cluster\.local\/ns\/vm\/sa\/vm-sa/)

      const rules = await s.sandbox.exec(['iptables-save', '-t', 'nat'])
      assert.equal(rules.code, 0, rules.stderr)
      assert.match(rules.stdout, /-A OUTPUT -p tcp -j ISTIO_OUTPUT/)
      assert.match(rules.stdout, /-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN/)
      assert.match(rules.stdout, /-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001/)
      assert.match(rules.stdout, /-A ISTIO_INBOUND -p tcp -m tcp --dport 9080 -j ISTIO_IN_REDIRECT/)
      assert.match(rules.stdout, /--dport 53 -j REDIRECT --to-ports 15053/)

      // Outbound: a user's curl, by the service's cluster name (DNS capture), through the proxy.
      const curl = await s.sandbox.exec([
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        'curl',
        '-sS',
        '-i',
        '--max-time',
        '10',
        'http://echo.sample.svc.cluster.local:8080/hello'
      ])
      assert.equal(curl.code, 0, curl.stderr)
      assert.match(curl.stdout, /^server: envoy\r$/m)
      assert.doesNotMatch(curl.stdout, /^server: echo/m)
      const echoed = JSON.parse(curl.stdout.slice(curl.stdout.indexOf('\r\n\r\n') + 4)) as {
        headers: Record<string, string>
      }
      assert.equal(
        echoed.headers['x-forwarded-client-cert'],
        'By=echo.sample.svc.cluster.local:8080;URI=spiffe://cluster.local/ns/vm/sa/vm-sa'
      )

      // A server-first TCP service (a banner) passes through at once, bytes untouched.
      const banner = createNetServer(socket => socket.end('220 banner\r\n'))
      await new Promise<void>(resolve => banner.listen(2525, s.sandbox.gateway, resolve))
      try {
        const tcp = await s.sandbox.exec([
          'python3',
          '-c',
          [
            'import socket, sys, time',
            `c = socket.create_connection(("${s.sandbox.gateway}", 2525), timeout=5)`,
            'start = time.time()',
            'data = c.recv(100)',
            'print(repr(data), round(time.time() - start, 2))'
          ].join('\n')
        ])
        assert.equal(tcp.code, 0, tcp.stderr)
        const out = tcp.stdout.trim()
        const data = out.slice(0, out.lastIndexOf(' '))
        const seconds = out.slice(out.lastIndexOf(' ') + 1)
        assert.equal(data, "b'220 banner\\r\\n'")
        assert.ok(Number(seconds) < 0.5, `the banner took ${seconds} s`)
      } finally {
        await new Promise(resolve => banner.close(resolve))
      }

      // An HTTP destination that refuses: Envoy's 503 from the sidecar.
      const refused = await s.sandbox.exec([
        'curl',
        '-sS',
        '-i',
        '--max-time',
        '10',
        `http://${s.sandbox.gateway}:9/`
      ])
      assert.equal(refused.code, 0, refused.stderr)
      assert.match(refused.stdout, /^HTTP\/1\.1 503/)
      assert.match(refused.stdout, /^server: envoy\r$/m)
      assert.match(refused.stdout, /upstream connect error or disconnect\/reset before headers/)

      // An unknown name gets NXDOMAIN from the agent's DNS proxy (the lab has no upstream DNS).
      const unknown = await s.sandbox.exec([
        'curl',
        '-sS',
        '--max-time',
        '5',
        'http://nope.sample.svc.cluster.local/'
      ])
      assert.notEqual(unknown.code, 0)
      assert.match(unknown.stderr, /Could not resolve host/)

      // Inbound: the runner calls the VM's port 9080; the agent forwards to the local app.
      const app = s.sandbox.spawn([
        'python3',
        '-c',
        [
          'import http.server, json',
          'class H(http.server.BaseHTTPRequestHandler):',
          '    def do_GET(self):',
          '        body = json.dumps(dict(self.headers)).encode()',
          '        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)',
          '    def log_message(self, *a): pass',
          'http.server.HTTPServer(("127.0.0.1", 9080), H).serve_forever()'
        ].join('\n')
      ])
      assert.ok(app.pid)
      const inbound = await until('the inbound app', 10_000, async () =>
        httpGet(`http://${s.sandbox.address}:9080/`).then(r => (r.status === 200 ? r : undefined))
      )
      assert.equal(inbound.headers['server'], 'envoy')
      const seen = JSON.parse(inbound.body) as Record<string, string>
      const xfcc = seen['x-forwarded-client-cert'] ?? seen['X-Forwarded-Client-Cert'] ?? ''
      assert.match(
        xfcc,
        new RegExp(
          `^By=spiffe://cluster\\.local/ns/vm/sa/vm-sa;URI=tcp://${s.sandbox.gateway.replace(/\./g, '\\.')}:\\d+$`
        )
      )
    } finally {
      await s.close()
    }
  })

  test('renews its certificate before it expires, authenticated by the certificate', async () => {
    const s = await scenario({ validitySeconds: 4 })
    try {
      await until('readiness 200', 30_000, async () =>
        (await ready(s)).status === 200 ? true : undefined
      )
      const first = await s.sandbox.readFile('etc/certs/cert-chain.pem')
      await until('a renewal', 10_000, async () =>
        s.istiod
          .events()
          .some(e => e.kind === 'certificate-issued' && e.detail.startsWith('renewal'))
          ? true
          : undefined
      )
      await until('the rotation in istio.log', 5000, async () =>
        (await log(s)).includes(
          'rotated workload certificate for spiffe://cluster.local/ns/vm/sa/vm-sa'
        )
          ? true
          : undefined
      )
      assert.notEqual(await s.sandbox.readFile('etc/certs/cert-chain.pem'), first)
      assert.equal((await ready(s)).status, 200)
      assert.deepEqual(
        s.istiod.events().filter(e => e.kind === 'authentication-failed'),
        []
      )
    } finally {
      await s.close()
    }
  })

  /** A VM of the generations before 1.8: the istio.<sa> secret's files, no token, pilot on 15011. */
  async function provisionedVm(clusterEnv: (gateway: string) => string): Promise<{
    sandbox: AgentSandbox
    istiod: Istiod
    identity: string
    close(): Promise<void>
  }> {
    const sandbox = await createAgentSandbox()
    let istiod: Istiod | undefined
    let echo: Server | undefined
    const close = async (): Promise<void> => {
      await sandbox.close()
      await istiod?.close()
      await new Promise(resolve => (echo ? echo.close(resolve) : resolve(undefined)))
    }
    try {
      istiod = await startIstiod({
        host: sandbox.gateway,
        port: 15012,
        extraPorts: [15011],
        extraServerNames: legacyPilotNames(),
        ca,
        reviewer: tokens.reviewer,
        names: () => ({}),
        heartbeatSeconds: 1
      })
      echo = await startEcho(sandbox.gateway, 8080)
      // What the 1.1 docs put on a VM: cluster.env, the istio.<sa> secret's three files, hosts.
      const identity = 'spiffe://cluster.local/ns/vm/sa/legacy'
      const cert = await ca.issue({ commonName: 'legacy', uris: [identity] })
      await sandbox.writeFile(
        'var/lib/istio/envoy/cluster.env',
        clusterEnv(sandbox.gateway),
        'istio-proxy'
      )
      await sandbox.writeFile('etc/certs/root-cert.pem', ca.certPem, 'istio-proxy')
      await sandbox.writeFile('etc/certs/cert-chain.pem', cert.certPem, 'istio-proxy')
      await sandbox.writeFile('etc/certs/key.pem', cert.keyPem, 'istio-proxy', 0o600)
      await sandbox.setHosts([
        `${sandbox.gateway} istio-citadel istio-pilot istio-pilot.istio-system`,
        `${sandbox.gateway} echo.sample.svc.cluster.local`
      ])
      sandbox.spawn([join(sandbox.root, 'usr/local/bin/istio-start.sh')], {
        ...agentPaths({ sandbox }),
        ISTIO_LAB_HEARTBEAT_SECONDS: '1'
      })
      return { sandbox, istiod, identity, close }
    } catch (error) {
      await close()
      throw error
    }
  }

  test('before 1.8: provisioned certificates, no token, pilot on 15011, names in /etc/hosts', async () => {
    const { sandbox, istiod, identity, close } = await provisionedVm(
      gateway =>
        `ISTIO_CP_AUTH=MUTUAL_TLS\nISTIO_SERVICE_CIDR=${gateway}/32\nISTIO_INBOUND_PORTS=9080\n`
    )
    try {
      await until('readiness 200', 30_000, async () =>
        (await httpGet(`http://${sandbox.address}:15021/healthz/ready`)).status === 200
          ? true
          : undefined
      )
      const proxy = await istiod.waitForProxy(() => true, 5000)
      assert.equal(proxy.spiffeId, identity)
      const text = await sandbox.readFile('var/log/istio/istio.log')
      assert.match(text, /using the provisioned certificates/)
      assert.match(text, /discoveryAddress=istio-pilot\.istio-system:15011/)
      assert.deepEqual(
        istiod.events().filter(e => e.kind === 'certificate-issued'),
        [],
        'no CSR without a token'
      )
      const curl = await sandbox.exec([
        'curl',
        '-sS',
        '-i',
        '--max-time',
        '10',
        'http://echo.sample.svc.cluster.local:8080/'
      ])
      assert.equal(curl.code, 0, curl.stderr)
      assert.match(curl.stdout, /^server: envoy\r$/m)
    } finally {
      await close()
    }
  })

  test("before 1.8: the 0.8 script's cluster.env alone (no ISTIO_CP_AUTH) sends the agent to plaintext 8080: not ready", async () => {
    // 0.8's package reads only ISTIO_CP_AUTH; the 0.8 script wrote only CONTROL_PLANE_AUTH_POLICY
    const { sandbox, istiod, close } = await provisionedVm(
      gateway =>
        `ISTIO_SERVICE_CIDR=${gateway}/32\nISTIO_SYSTEM_NAMESPACE=istio-system\nCONTROL_PLANE_AUTH_POLICY=MUTUAL_TLS\n`
    )
    try {
      // 8080 is pilot's plaintext port of that era: whatever answers there, no TLS stream comes up
      const text = await until('pilot unavailable on 8080', 20_000, async () => {
        const current = await sandbox.readFile('var/log/istio/istio.log').catch(() => '')
        return current.includes('code = Unavailable') ? current : undefined
      })
      assert.match(text, /discoveryAddress=istio-pilot\.istio-system:8080/)
      assert.equal((await httpGet(`http://${sandbox.address}:15021/healthz/ready`)).status, 503)
      assert.deepEqual(istiod.connectedProxies(), [])
    } finally {
      await close()
    }
  })

  test('application health from the readiness probe, reported to istiod', async () => {
    const probe = { httpGet: { path: '/', port: 9080 }, periodSeconds: 1, failureThreshold: 1 }
    const s = await scenario({ probe })
    try {
      await until('readiness 200', 30_000, async () =>
        (await ready(s)).status === 200 ? true : undefined
      )
      const unhealthy = await until('an unhealthy report', 10_000, async () => {
        const health = s.istiod.connectedProxies()[0]?.health
        return health && !health.healthy ? health : undefined
      })
      assert.match(unhealthy.message, /Connection refused/)
      assert.equal(s.istiod.connectedProxies()[0]?.healthChecks, true)
      s.sandbox.spawn(['python3', '-m', 'http.server', '--bind', '127.0.0.1', '9080'])
      await until('a healthy report', 10_000, async () =>
        s.istiod.connectedProxies()[0]?.health?.healthy === true ? true : undefined
      )
      assert.match(await log(s), /application healthy: HTTP probe succeeded with statuscode: 200/)
    } finally {
      await s.close()
    }
  })

  test('a wrong root cert: not ready, x509 unknown authority logged', async () => {
    const other = await createLabCa('some other root')
    const s = await scenario({ rootCertPem: other.certPem })
    try {
      const text = await expectNotReady(s, [
        'failed to warm certificate',
        'x509: certificate signed by unknown authority'
      ])
      assert.doesNotMatch(text, /generated new workload certificate/)
    } finally {
      await s.close()
    }
  })

  test('an expired token: not ready, istiod answers authentication failure', async () => {
    const expired = tokens.mint({
      namespace: 'vm',
      serviceAccount: 'vm-sa',
      expirationSeconds: -60
    })
    const s = await scenario({ token: expired })
    try {
      await expectNotReady(s, ['failed to warm certificate', 'authentication failure'])
      const failures = s.istiod.events().filter(e => e.kind === 'authentication-failed')
      assert.ok(failures.length > 0)
      assert.match(failures[0]?.detail ?? '', /expired/)
    } finally {
      await s.close()
    }
  })

  test('a token for another audience: not ready, authentication failure', async () => {
    const wrong = tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa', audiences: ['api'] })
    const s = await scenario({ token: wrong })
    try {
      await expectNotReady(s, ['failed to warm certificate', 'authentication failure'])
    } finally {
      await s.close()
    }
  })

  const workloadCertificate = (validForSeconds: number) =>
    ca.issue({
      commonName: 'vm-sa',
      uris: ['spiffe://cluster.local/ns/vm/sa/vm-sa'],
      validForSeconds
    })
  const expiredToken = () =>
    tokens.mint({ namespace: 'vm', serviceAccount: 'vm-sa', expirationSeconds: -60 })

  test('a restart after the token expired: its still-valid workload certificate authenticates', async () => {
    const earlier = await workloadCertificate(3600)
    const s = await scenario({ token: expiredToken(), certificate: earlier })
    try {
      await until('readiness 200', 30_000, async () =>
        (await ready(s)).status === 200 ? true : undefined
      )
      const issued = s.istiod.events().filter(e => e.kind === 'certificate-issued')
      assert.equal(issued.length, 1)
      assert.match(issued[0]?.detail ?? '', /^renewal /)
      assert.deepEqual(
        s.istiod.events().filter(e => e.kind === 'authentication-failed'),
        []
      )
      assert.notEqual(await s.sandbox.readFile('etc/certs/cert-chain.pem'), earlier.certPem)
    } finally {
      await s.close()
    }
  })

  test('neither a valid token nor a valid certificate: retries with backoff, does not exit', async () => {
    const s = await scenario({ token: expiredToken(), certificate: await workloadCertificate(-60) })
    try {
      // from 1.11 an expired certificate is left out and the token goes alone (refused)
      const text = await until('three refused attempts', 20_000, async () => {
        const current = await log(s)
        return current.split('authentication failure').length > 3 ? current : undefined
      })
      assert.match(text, /cert expired, using token instead/)
      assert.equal((await ready(s)).status, 503) // still running, still asking
      assert.deepEqual(s.istiod.connectedProxies(), [])
    } finally {
      await s.close()
    }
  })

  test('ISTIO_CUSTOM_IP_TABLES=true: ready without capture, and clean leaves iptables alone', async () => {
    const s = await scenario({ env: { ISTIO_CUSTOM_IP_TABLES: 'true' } })
    try {
      await until('readiness 200', 30_000, async () =>
        (await ready(s)).status === 200 ? true : undefined
      )
      await s.sandbox.exec(['iptables', '-t', 'nat', '-N', 'ISTIO_HOST_OWN'])
      const clean = await s.sandbox.exec(
        [join(s.sandbox.root, 'usr/local/bin/istio-start.sh'), 'clean'],
        { env: { ...agentPaths(s), ISTIO_CUSTOM_IP_TABLES: 'true' } }
      )
      assert.equal(clean.code, 0, clean.stderr)
      const rules = (await s.sandbox.exec(['iptables-save', '-t', 'nat'])).stdout
      assert.doesNotMatch(rules, /ISTIO_(INBOUND|OUTPUT|REDIRECT|IN_REDIRECT)/)
      assert.match(rules, /ISTIO_HOST_OWN/)
    } finally {
      await s.close()
    }
  })

  test('1.24 on: clean runs istio-iptables --cleanup-only; pilot-agent has no istio-clean-iptables', async () => {
    const s = await scenario()
    try {
      await until('readiness 200', 30_000, async () =>
        (await ready(s)).status === 200 ? true : undefined
      )
      const agent = join(s.sandbox.root, 'usr/local/bin/pilot-agent')
      const gone = await s.sandbox.exec([agent, 'istio-clean-iptables'])
      assert.equal(gone.code, 1)
      assert.match(gone.stderr, /unknown command "istio-clean-iptables"/)
      assert.match((await s.sandbox.exec(['iptables-save', '-t', 'nat'])).stdout, /ISTIO_OUTPUT/)
      const clean = await s.sandbox.exec(
        [join(s.sandbox.root, 'usr/local/bin/istio-start.sh'), 'clean'],
        { env: agentPaths(s) }
      )
      assert.equal(clean.code, 0, clean.stderr)
      assert.doesNotMatch((await s.sandbox.exec(['iptables-save', '-t', 'nat'])).stdout, /ISTIO_/)
    } finally {
      await s.close()
    }
  })

  test('no hosts entry for istiod: not ready, no such host logged', async () => {
    const s = await scenario({ hosts: false })
    try {
      await expectNotReady(s, [
        'failed to warm certificate',
        'dial tcp: lookup istiod.istio-system.svc: no such host'
      ])
    } finally {
      await s.close()
    }
  })
})
