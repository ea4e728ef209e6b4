// What a host runs before apply changes anything, for settings.rollout: one read-only script on
// the stdin of one exec, as root (the bundle's `sudo -n` wrapper), over the connection onboarding
// then goes on with. It reads the installed istio-sidecar version (as the drift probe does) and
// the istiod address cluster.env names (its revision), and the service's state; it changes
// nothing, takes no lock and writes no file.
//   MX-RUNNING package <version|none>
//   MX-RUNNING ca-addr <host:port|none|missing>   (none: cluster.env names none; missing: no file)
//   MX-RUNNING service <systemctl is-active word>
import { remoteCommand } from './bundle.ts'
import type { HostTransport } from './transport.ts'

const CLUSTER_ENV = '/var/lib/istio/envoy/cluster.env'

/** Shell lines that print `say package <version|none>`: the installed istio-sidecar (dpkg or
 * rpm), a version of safe characters only. Shared with the drift probe. */
export const INSTALLED_PACKAGE_SH = `if command -v dpkg-query >/dev/null 2>&1; then
  v=$(dpkg-query -W -f '\${Status} \${Version}' istio-sidecar 2>/dev/null | sed -n 's/^install ok installed //p')
else
  v=$(rpm -q --qf '%{VERSION}' istio-sidecar 2>/dev/null) || v=''
fi
case $v in '' | *[!0-9A-Za-z.+~:-]*) v=none ;; esac
say package "$v"
`

export const RUNNING_SCRIPT = `# mesh-expansion: what this host runs; read-only, run as root by sh -s
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
say() { printf 'MX-RUNNING %s\\n' "$*"; }
${INSTALLED_PACKAGE_SH}if [ -f ${CLUSTER_ENV} ] && [ ! -L ${CLUSTER_ENV} ]; then
  a=$(sed -n "s/^CA_ADDR=//p" ${CLUSTER_ENV} | head -n 1 | tr -d "'\\"")
  case $a in '' | *[!0-9A-Za-z.:-]*) a=none ;; esac
else a=missing
fi
say ca-addr "$a"
say service "$(systemctl is-active istio 2>/dev/null | head -n 1 | tr -cd 'a-z-')"
exit 0
`

export interface RunningFacts {
  /** null: no istio-sidecar installed */
  readonly packageVersion: string | null
  /** CA_ADDR of cluster.env (set for a revisioned istiod only); '' when it names none; null
   * when there is no cluster.env */
  readonly caAddress: string | null
  /** `systemctl is-active istio` */
  readonly service: string
}

/** Parses the script's lines (pure); a line it does not know is ignored. */
export function parseRunning(stdout: string): RunningFacts {
  let packageVersion: string | null = null
  let caAddress: string | null = null
  let service = ''
  for (const line of stdout.split('\n')) {
    const match = /^MX-RUNNING (package|ca-addr|service) ?(\S*)$/.exec(line)
    if (!match) continue
    const value = match[2] ?? ''
    if (match[1] === 'package') packageVersion = value === 'none' || value === '' ? null : value
    else if (match[1] === 'ca-addr')
      caAddress = value === 'missing' || value === '' ? null : value === 'none' ? '' : value
    else service = value
  }
  return { packageVersion, caAddress, service }
}

/** Runs the script over a host's open connection: one exec, one channel. */
export async function readRunning(
  transport: HostTransport,
  timeoutMs = 60_000
): Promise<RunningFacts> {
  const result = await transport.exec(remoteCommand(timeoutMs / 1000), {
    stdin: RUNNING_SCRIPT,
    timeoutMs: timeoutMs + 10_000
  })
  if (result.code !== 0) {
    const why = (result.stdout + result.stderr).trim().split('\n').slice(-2).join(' | ')
    throw new Error(`reading what the host runs exited with ${result.code}: ${why}`)
  }
  return parseRunning(result.stdout)
}
