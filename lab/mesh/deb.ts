// Builds the lab's istio-sidecar.deb: the real package's name, layout, unit and maintainer
// scripts, with the stand-in agent (lab/mesh/sidecar/) in place of pilot-agent and Envoy.
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const sources = fileURLToPath(new URL('./sidecar/', import.meta.url))

export interface SidecarDebOptions {
  /** Package version, e.g. 1.30.3 (the Istio version the lab pretends to be). */
  version: string
  /** dpkg architecture; default: the runner's (`dpkg --print-architecture`), which the VMs share. */
  architecture?: string
  /** File name inside outDir; default istio-sidecar.deb, the real download's name. */
  fileName?: string
  /**
   * `never`: an agent that starts, gets its certificate and captures traffic like the good one,
   * but whose readiness (:15021/healthz/ready) answers 503 for ever: a bad update, for the
   * tests of the host's rollback. Default `normal`.
   */
  readiness?: 'normal' | 'never'
  /**
   * `broken-outbound`: an agent that becomes ready like the good one but answers every outbound
   * request of the VM's apps with a 503 (a bad update that readiness does not catch, for the
   * rollout's checks). Default `normal`.
   */
  traffic?: 'normal' | 'broken-outbound'
  /**
   * Text of one more file, `usr/share/doc/istio-sidecar/lab-marker`: a package that installs
   * and runs as the plain one but whose bytes differ (a tampered copy, for the checksum tests).
   */
  marker?: string
}

/** The agent's readiness lines, and what a `readiness: 'never'` package has instead. */
const READY_LINE =
  "    STATE.set(True, 'ok')\n" +
  "    log('info', 'default', 'Envoy proxy is ready (outbound %d, inbound %d)' % (OUTBOUND_PORT, INBOUND_PORT))\n"
const NEVER_READY_LINES =
  "    STATE.set(False, 'this lab package never becomes ready (readiness: never)')\n" +
  "    log('warn', 'default', 'lab: this package never becomes ready (readiness: never)')\n"

/** pilot-agent.py of a package that never becomes ready (see SidecarDebOptions.readiness). */
export function neverReadyAgent(content: string): string {
  if (content.split(READY_LINE).length !== 2) {
    throw new Error(
      "pilot-agent.py: the readiness lines (STATE.set(True, 'ok')...) are not there once"
    )
  }
  return content.replace(READY_LINE, NEVER_READY_LINES)
}

/** The first line of the outbound route, and what a `traffic: 'broken-outbound'` package adds. */
const ROUTE_LINE = '        service = MESH.route(host, address, port)\n'
const BROKEN_OUTBOUND_LINES =
  "        upstream_failure(client, is_http, b'lab: this package breaks outbound traffic')\n" +
  '        return\n'

/** pilot-agent.py of a package that breaks outbound traffic (SidecarDebOptions.traffic). */
export function brokenOutboundAgent(content: string): string {
  if (content.split(ROUTE_LINE).length !== 2) {
    throw new Error('pilot-agent.py: the outbound route line (MESH.route(...)) is not there once')
  }
  return content.replace(ROUTE_LINE, BROKEN_OUTBOUND_LINES + ROUTE_LINE)
}

/** Where each file of lab/mesh/sidecar/ goes in the package, with its mode. */
export const SIDECAR_LAYOUT: ReadonlyArray<{ source: string; target: string; mode: number }> = [
  { source: 'istio-start.sh', target: 'usr/local/bin/istio-start.sh', mode: 0o755 },
  { source: 'pilot-agent.py', target: 'usr/local/bin/pilot-agent', mode: 0o755 },
  { source: 'envoy', target: 'usr/local/bin/envoy', mode: 0o755 },
  { source: 'istio.service', target: 'lib/systemd/system/istio.service', mode: 0o644 },
  { source: 'sidecar.env', target: 'var/lib/istio/envoy/sidecar.env', mode: 0o644 },
  {
    source: 'envoy_bootstrap_tmpl.json',
    target: 'var/lib/istio/envoy/envoy_bootstrap_tmpl.json',
    mode: 0o644
  },
  // Like the real package: a postinst and no postrm, so `dpkg -r` leaves nothing registered
  // (the user and /etc/istio stay, as the docs' cleanup expects).
  { source: 'postinst', target: 'DEBIAN/postinst', mode: 0o755 }
]

/**
 * A stand-in file as the package of `version` ships it: the agent knows the version it plays
 * (what changed between Istio versions follows it), and istio-start.sh removes the capture with
 * the command upstream's script of that version uses (tools/packaging/common/istio-start.sh:
 * `pilot-agent istio-clean-iptables` before 1.24, `istio-iptables --cleanup-only` from 1.24).
 */
export function versionedSource(source: string, content: string, version: string): string {
  const [major = 0, minor = 0] = version.split('.').map(part => Number.parseInt(part, 10))
  if (source === 'pilot-agent.py') {
    return content.replace(/^VERSION = '[^']*'/m, `VERSION = '${version}-lab'`)
  }
  if (source === 'istio-start.sh' && (major < 1 || (major === 1 && minor < 24))) {
    return content.replace(
      /^ISTIO_CLEAN_IPTABLES='[^']*'$/m,
      "ISTIO_CLEAN_IPTABLES='istio-clean-iptables'"
    )
  }
  return content
}

/** The directory holding the stand-in's files (for tests that run the agent without a VM). */
export function sidecarSourceDir(): string {
  return sources
}

export function controlFile(version: string, architecture: string): string {
  return [
    'Package: istio-sidecar',
    `Version: ${version}`,
    'Section: net',
    'Priority: optional',
    `Architecture: ${architecture}`,
    'Depends: iproute2, iptables, sudo, hostname, python3, openssl',
    'Maintainer: mesh-expansion lab <lab@mesh-expansion.invalid>',
    'Description: Istio sidecar (mesh-expansion lab stand-in)',
    ' The layout and contract of the real istio-sidecar package: istio-start.sh, pilot-agent,',
    ' envoy and istio.service. pilot-agent is a Python stand-in that gets a workload',
    ' certificate from istiod, installs iptables capture and proxies traffic.',
    ''
  ].join('\n')
}

/** Builds the package into outDir and returns its path. Needs dpkg-deb (Debian runners). */
export async function buildSidecarDeb(outDir: string, options: SidecarDebOptions): Promise<string> {
  if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(options.version)) {
    throw new Error(`"${options.version}" is not a Debian package version`)
  }
  const architecture =
    options.architecture ?? (await run('dpkg', ['--print-architecture'])).stdout.trim()
  await mkdir(outDir, { recursive: true })
  const staging = await mkdtemp(join(outDir, '.istio-sidecar-'))
  try {
    for (const file of SIDECAR_LAYOUT) {
      const target = join(staging, file.target)
      await mkdir(join(target, '..'), { recursive: true, mode: 0o755 })
      const content = versionedSource(
        file.source,
        await readFile(join(sources, file.source), 'utf8'),
        options.version
      )
      let written = content
      if (file.source === 'pilot-agent.py' && options.readiness === 'never')
        written = neverReadyAgent(written)
      if (file.source === 'pilot-agent.py' && options.traffic === 'broken-outbound')
        written = brokenOutboundAgent(written)
      await writeFile(target, written)
      await chmod(target, file.mode)
    }
    if (options.marker !== undefined) {
      const doc = join(staging, 'usr/share/doc/istio-sidecar')
      await mkdir(doc, { recursive: true, mode: 0o755 })
      await writeFile(join(doc, 'lab-marker'), options.marker)
      await chmod(join(doc, 'lab-marker'), 0o644)
    }
    await writeFile(join(staging, 'DEBIAN/control'), controlFile(options.version, architecture))
    await chmod(staging, 0o755)
    const path = join(outDir, options.fileName ?? 'istio-sidecar.deb')
    await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', staging, path])
    return path
  } finally {
    await rm(staging, { recursive: true, force: true })
  }
}
