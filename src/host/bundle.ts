// The bundle: the rendered files, the install script and its parameters as ONE POSIX shell
// payload, read by `sh -s` on the stdin of a single exec. Nothing secret is on a command line
// (`ps` would show it): the token travels inside the payload. Pure.
import { createHash } from 'node:crypto'
import { VM_FILE_NAMES } from '../istio/vmFileNames.ts'
import { shellQuote } from '../util/shell.ts'
import { INSTALL_SCRIPT } from './installScript.ts'

/**
 * The rendered files a host gets: the five of renderVmFiles (VM_FILE_NAMES, in that order in the
 * bundle and its hash), then those only some generations have. The generations before 1.8 give
 * no token ('istio-token' and 'mesh.yaml' are then ''), the workload certificate and its key
 * instead, optionally sidecar.env, and for scripts-0.8 the dnsmasq file `kubedns`.
 */
export interface HostFiles {
  'cluster.env': string
  'mesh.yaml': string
  hosts: string
  'root-cert.pem': string
  /** '' places no token and removes one an earlier run placed. */
  'istio-token': string
  /** -> /etc/certs/cert-chain.pem (644, istio-proxy) */
  'cert-chain.pem'?: string
  /** -> /etc/certs/key.pem (600, istio-proxy) */
  'key.pem'?: string
  /** -> /var/lib/istio/envoy/sidecar.env; when absent, one an earlier run placed is removed */
  'sidecar.env'?: string
  /** -> /etc/dnsmasq.d/kubedns, and the host resolves through dnsmasq */
  kubedns?: string
}

/** Files only some generations have; the bundle carries each only when present. */
export const OPTIONAL_HOST_FILE_NAMES = [
  'cert-chain.pem',
  'key.pem',
  'sidecar.env',
  'kubedns'
] as const

/** How the host gets the sidecar package. */
export type PackagePlan =
  | { mode: 'none' }
  /** the runner pushes a file (SFTP) to `remotePath` when the host asks for it */
  | { mode: 'push'; sha256: string; remotePath: string }
  /** the host downloads it; `sha256`, or for an https URL `<url>.sha256` over https, checks it
   * (install.sh refuses a plain http URL without `sha256`) */
  | { mode: 'url'; url: string; sha256?: string }
  /** the host downloads the official package for its own family and architecture */
  | { mode: 'auto'; version: string }

export interface InstallParams {
  mode: 'install' | 'uninstall' | 'rollback' | 'preflight'
  /** The Istio version wanted; '' when unknown (then the package's SHA-256 decides "installed"). */
  version: string
  package: PackagePlan
  statusPort: number
  readyTimeoutSec: number
  minDiskMb: number
  maxSkewSec: number
  /** The runner's clock, Unix seconds. */
  runnerTime: number
  keepPackage: boolean
  /** How long a run waits for another run's lock on the same host (install.sh: flock on
   * /run/mesh-expansion.lock) before it gives up, changing nothing (exit 12). */
  lockWaitSec?: number
  /** The host keeps its bootstrap token, unless it expires within this many seconds
   * (settings.tokenRefreshWithin) or names another identity: then the new one is placed. */
  tokenRefreshWithinSec?: number
  /** Restart a running sidecar even when nothing of the host's changed (MX_RECONNECT). */
  reconnect?: boolean
}

export const DEFAULT_PARAMS: Omit<InstallParams, 'mode' | 'version' | 'package' | 'runnerTime'> = {
  statusPort: 15021,
  readyTimeoutSec: 60,
  minDiskMb: 200,
  maxSkewSec: 120,
  keepPackage: false,
  lockWaitSec: 300,
  tokenRefreshWithinSec: 86400
}

const OFFICIAL_BASE = 'https://storage.googleapis.com/istio-release/releases'

/** The official sidecar package: `.../<version>/deb/istio-sidecar[-<arch>].deb` (amd64 has no suffix). */
export function officialPackageUrl(
  version: string,
  arch: string,
  family: 'deb' | 'rpm' = 'deb'
): string {
  if (!/^\d+\.\d+\.\d+([-.][0-9A-Za-z.-]+)?$/.test(version)) {
    throw new Error(`"${version}" is not an Istio release version (x.y.z)`)
  }
  if (arch !== 'amd64' && !hasOfficialArm64(version)) {
    throw new Error(`Istio ${version} has no official ${arch} sidecar package (arm64 from 1.17)`)
  }
  const suffix = arch === 'amd64' ? '' : `-${arch}`
  return `${OFFICIAL_BASE}/${version}/${family}/istio-sidecar${suffix}.${family}`
}

/** The release builds istio-sidecar-arm64.deb and .rpm from 1.17 (istio/release-builder #1255). */
function hasOfficialArm64(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number)
  return major > 1 || (major === 1 && minor >= 17)
}

/** The same URL with the host's family and architecture left for install.sh to fill in. */
export function officialPackageUrlTemplate(version: string): string {
  return officialPackageUrl(version, 'amd64').replace(
    /\/deb\/istio-sidecar\.deb$/,
    '/@FAMILY@/istio-sidecar@ARCHSUFFIX@.@FAMILY@'
  )
}

/** Where a pushed package lands before install.sh checks and installs it. */
export function pushedPackagePath(sha256: string): string {
  return `/var/tmp/mesh-expansion-${sha256.slice(0, 16)}.pkg`
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/**
 * SHA-256 of what a restart depends on: every file but the token, plus the package wanted.
 * The optional files count only when present, so files without them hash as they always did
 * (a re-run of an already onboarded modern host stays "unchanged").
 */
export function configSha256(
  files: HostFiles,
  params: Pick<InstallParams, 'version' | 'package'>
): string {
  const hash = createHash('sha256')
  for (const name of VM_FILE_NAMES) {
    if (name === 'istio-token') continue
    hash.update(`${name}\0${sha256(files[name])}\0`)
  }
  for (const name of OPTIONAL_HOST_FILE_NAMES) {
    const content = files[name]
    if (content !== undefined) hash.update(`${name}\0${sha256(content)}\0`)
  }
  hash.update(`version\0${params.version}\0package\0${JSON.stringify(params.package)}`)
  return hash.digest('hex')
}

function environment(params: InstallParams): Record<string, string> {
  const env: Record<string, string> = {
    MX_VERSION: params.version,
    MX_PKG_MODE: params.package.mode,
    MX_STATUS_PORT: String(params.statusPort),
    MX_READY_TIMEOUT: String(params.readyTimeoutSec),
    MX_MIN_DISK_MB: String(params.minDiskMb),
    MX_MAX_SKEW: String(params.maxSkewSec),
    MX_RUNNER_TIME: String(params.runnerTime),
    MX_KEEP_PACKAGE: params.keepPackage ? '1' : '0',
    MX_LOCK_WAIT: String(params.lockWaitSec ?? DEFAULT_PARAMS.lockWaitSec),
    MX_TOKEN_REFRESH_WITHIN: String(
      params.tokenRefreshWithinSec ?? DEFAULT_PARAMS.tokenRefreshWithinSec
    ),
    MX_RECONNECT: params.reconnect ? '1' : '0'
  }
  const p = params.package
  if (p.mode === 'push') {
    env.MX_PKG_SHA256 = p.sha256
    env.MX_PKG_PUSHED = p.remotePath
  } else if (p.mode === 'url') {
    env.MX_PKG_URL = p.url
    if (p.sha256) env.MX_PKG_SHA256 = p.sha256
  } else if (p.mode === 'auto') {
    env.MX_PKG_URL = officialPackageUrlTemplate(p.version)
  }
  return env
}

function heredoc(target: string, content: string | Buffer): string {
  // base64 has no "_", so the delimiter can never occur inside
  const body = Buffer.from(content).toString('base64').replace(/.{76}/g, '$&\n')
  return `base64 -d >"$MX_WORK/${target}" <<'MX_EOF'\n${body}\nMX_EOF\n`
}

export interface Bundle {
  /** The payload for `sh -s` (see remoteCommand). */
  payload: Buffer
  /** See configSha256. */
  configSha256: string
}

/** Builds the payload. Files may be omitted for uninstall. */
export function buildBundle(input: {
  files?: HostFiles
  params: InstallParams
  script?: string
  /** A pushed package carried in the stream (small packages; MX_PKG_INLINE=1). */
  inlinePackage?: Buffer
}): Bundle {
  const { params } = input
  const script = input.script ?? INSTALL_SCRIPT
  const parts: string[] = [
    '# mesh-expansion bundle: read by sh -s as root',
    'set -eu',
    'umask 077',
    'MX_WORK=$(mktemp -d "${TMPDIR:-/tmp}/mesh-expansion.XXXXXX")',
    `trap 'rm -rf "$MX_WORK"' EXIT`,
    heredoc('install.sh', script)
  ]
  if (input.files) {
    for (const name of VM_FILE_NAMES) parts.push(heredoc(name, input.files[name]))
    for (const name of OPTIONAL_HOST_FILE_NAMES) {
      const content = input.files[name]
      if (content !== undefined) parts.push(heredoc(name, content))
    }
  }
  if (input.inlinePackage) parts.push(heredoc('package', input.inlinePackage))
  const env = environment(params)
  if (input.inlinePackage) env.MX_PKG_INLINE = '1'
  for (const [key, value] of Object.entries(env))
    parts.push(`${key}=${shellQuote(value)}; export ${key}`)
  parts.push(
    'rc=0',
    `/bin/sh "$MX_WORK/install.sh" ${params.mode} "$MX_WORK" </dev/null || rc=$?`,
    'exit "$rc"',
    ''
  )
  return {
    payload: Buffer.from(parts.join('\n')),
    configSha256: input.files ? configSha256(input.files, params) : ''
  }
}

/**
 * The one command line of an exec: become root (`sudo -n` unless already root) and read the
 * bundle from stdin, under `timeout` when the host has it so a hung install ends itself too.
 */
export function remoteCommand(timeoutSec: number): string {
  const seconds = Math.max(1, Math.ceil(timeoutSec))
  const inner = [
    'if [ "$(id -u)" -eq 0 ]; then set --;',
    'elif sudo -n true 2>/dev/null; then set -- sudo -n;',
    'else echo "MX-FAIL preflight sudo: sudo -n is refused for $(id -un): allow it without a password (NOPASSWD) for this user"; exit 10; fi;',
    `if command -v timeout >/dev/null 2>&1; then set -- "$@" timeout -k 5 ${seconds}; fi;`,
    'exec "$@" /bin/sh -s'
  ].join(' ')
  return `/bin/sh -c ${shellQuote(inner)}`
}
