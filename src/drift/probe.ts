// The host half of `drift`: one read-only POSIX shell script, sent on the stdin of one exec and
// run as root (the bundle's `sudo -n` wrapper), that reports what the host has in lines the
// runner parses. It changes nothing, takes no lock, writes no file. What leaves the host: SHA-256
// digests of the files we placed, the token's `exp` claim (digits only; the token itself never
// leaves), the certificate's notAfter, the package version, the service and readiness states and
// the capture rules of the nat table. A path that is a symlink is reported, never read: we never
// follow a link we did not make.
//   MX-DRIFT file <key> present|missing|symlink|other <sha256|->
//   MX-DRIFT block hosts present|missing|symlink <sha256|->
//   MX-DRIFT token-exp <seconds|none|unreadable>
//   MX-DRIFT cert-not-after <seconds|none|unreadable>
//   MX-DRIFT package <version|none> | package-sha256 <sha|none> | package-recorded <version|none>
//   MX-DRIFT service <systemctl is-active word> | ready yes|no|no-client
//   MX-DRIFT ipt <an iptables-save line of the nat table that names an ISTIO chain>
//   MX-DRIFT ipt-status ok|no-iptables|failed
import { INSTALL_SCRIPT } from '../host/installScript.ts'
import { INSTALLED_PACKAGE_SH } from '../host/running.ts'
import { shellQuote } from '../util/shell.ts'

/** Where install.sh puts what it places (src/host/install.sh; modern generation). */
export const PLACED_PATHS = {
  'cluster.env': '/var/lib/istio/envoy/cluster.env',
  mesh: '/etc/istio/config/mesh',
  /** our copy of the root certificate we placed: the agent rewrites /etc/certs/root-cert.pem */
  'root-cert.pem': '/var/lib/mesh-expansion/root-cert.pem',
  'root-cert.pem (agent)': '/etc/certs/root-cert.pem',
  'istio-token': '/var/run/secrets/tokens/istio-token',
  /** the copy systemd-tmpfiles puts back at boot */
  'istio-token (copy)': '/var/lib/mesh-expansion/istio-token',
  tmpfiles: '/etc/tmpfiles.d/mesh-expansion.conf'
} as const

export type PlacedKey = keyof typeof PLACED_PATHS

export const HOSTS_FILE = '/etc/hosts'
export const STATE_DIR = '/var/lib/mesh-expansion'
export const CERT_CHAIN = '/etc/certs/cert-chain.pem'
/** install.sh's marker lines of its block in /etc/hosts */
export const BLOCK_BEGIN = '# BEGIN mesh-expansion (managed block: a re-run replaces it)'
export const BLOCK_END = '# END mesh-expansion'

/** The tmpfiles.d file install.sh writes for the token (the same bytes, from its printf). */
export const TMPFILES_CONTENT = [
  '# mesh-expansion: the bootstrap token survives a reboot',
  'd /run/secrets 0755 root root -',
  'd /run/secrets/tokens 0755 root root -',
  `C /run/secrets/tokens/istio-token - - - - ${STATE_DIR}/istio-token`,
  ''
].join('\n')

/** A function of install.sh, as written there (`name() {` to the first `}` line). */
export function installScriptFunction(name: string): string {
  const match = new RegExp(`^${name}\\(\\) \\{\n[\\s\\S]*?^\\}$`, 'm').exec(INSTALL_SCRIPT)
  if (!match) throw new Error(`internal: install.sh has no function ${name}`)
  return match[0]
}

/** The probe for a sidecar whose readiness answers on `statusPort`. */
export function probeScript(statusPort = 15021): string {
  // a file in the proxy user's directory (/etc/certs) is only looked at, never read: that user
  // could swap it for a link between our look and the read
  const files = Object.entries(PLACED_PATHS)
    .map(
      ([key, path]) =>
        `${path.startsWith('/etc/certs/') ? 'probe_exists' : 'probe_file'} ${shellQuote(key)} ${shellQuote(path)}`
    )
    .join('\n')
  return `# mesh-expansion drift probe: read-only, run as root by sh -s
set -u
umask 077
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
say() { printf 'MX-DRIFT %s\\n' "$*"; }
digits() { case $1 in '' | *[!0-9]*) echo unreadable ;; *) echo "$1" ;; esac; }

probe_file() {
  if [ -L "$2" ]; then say file "$1" symlink -
  elif [ ! -e "$2" ]; then say file "$1" missing -
  elif [ ! -f "$2" ]; then say file "$1" other -
  else say file "$1" present "$(sha256sum <"$2" | cut -d ' ' -f 1)"
  fi
}
probe_exists() {
  if [ -L "$2" ]; then say file "$1" symlink -
  elif [ ! -e "$2" ]; then say file "$1" missing -
  elif [ ! -f "$2" ]; then say file "$1" other -
  else say file "$1" present -
  fi
}
${files}

hosts=${shellQuote(HOSTS_FILE)}
if [ -L "$hosts" ]; then say block hosts symlink -
elif [ ! -f "$hosts" ] || ! grep -qxF ${shellQuote(BLOCK_BEGIN)} "$hosts"; then say block hosts missing -
else
  say block hosts present "$(awk -v b=${shellQuote(BLOCK_BEGIN)} -v e=${shellQuote(BLOCK_END)} \\
    '$0 == e { on = 0 } on { print } $0 == b { on = 1 }' "$hosts" | sha256sum | cut -d ' ' -f 1)"
fi

# the token's exp claim, decoded here with install.sh's own reader (apply decides on the same
# claims): only its digits leave the host
# shellcheck disable=SC2034 # JWT_HEAD and JWT_SIGLEN are apply's, unused here
${installScriptFunction('jwt_read')}
${installScriptFunction('jwt_claim')}
token=${shellQuote(PLACED_PATHS['istio-token'])}
if [ -f "$token" ] && [ ! -L "$token" ]; then
  jwt_read "$token"
  exp=$(jwt_claim "$JWT_JSON" exp)
  JWT_JSON=''
  say token-exp "$(digits "$exp")"
else say token-exp none
fi

# the certificate is the agent's, in its user's directory: read as that user, not as root
as_proxy() {
  pu=$(id -u istio-proxy 2>/dev/null) && pg=$(id -g istio-proxy 2>/dev/null) &&
    command -v setpriv >/dev/null 2>&1 && setpriv --reuid="$pu" --regid="$pg" --clear-groups "$@"
}
cert=${shellQuote(CERT_CHAIN)}
if [ -f "$cert" ] && [ ! -L "$cert" ] && command -v openssl >/dev/null 2>&1; then
  end=$(as_proxy openssl x509 -noout -enddate -in "$cert" 2>/dev/null | sed -n 's/^notAfter=//p')
  say cert-not-after "$(digits "$(date -d "$end" +%s 2>/dev/null)")"
elif [ -f "$cert" ]; then say cert-not-after unreadable
else say cert-not-after none
fi

${INSTALLED_PACKAGE_SH}s=$(head -c 64 ${shellQuote(`${STATE_DIR}/package.sha256`)} 2>/dev/null | tr -d '\\n')
case $s in *[!0-9a-f]* | '') s=none ;; esac
say package-sha256 "$s"
r=$(sed -n 's/^package istio-sidecar //p' ${shellQuote(`${STATE_DIR}/manifest`)} 2>/dev/null | head -n 1)
case $r in '' | *[!0-9A-Za-z.+~:-]*) r=none ;; esac
say package-recorded "$r"

say service "$(systemctl is-active istio 2>/dev/null | head -n 1 | tr -cd 'a-z-')"
url=http://127.0.0.1:${statusPort}/healthz/ready
if command -v curl >/dev/null 2>&1; then
  if curl -fsS -o /dev/null --max-time 3 "$url" 2>/dev/null; then say ready yes; else say ready no; fi
elif command -v wget >/dev/null 2>&1; then
  if wget -q -O /dev/null -T 3 "$url" 2>/dev/null; then say ready yes; else say ready no; fi
elif command -v python3 >/dev/null 2>&1; then
  if python3 -c 'import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=3)' "$url" 2>/dev/null; then say ready yes; else say ready no; fi
else say ready no-client
fi

if command -v iptables-save >/dev/null 2>&1; then
  if rules=$(iptables-save -t nat 2>/dev/null); then
    printf '%s\\n' "$rules" | grep -E '^-A [A-Z_]+ .*ISTIO_|^-A ISTIO_' | sed 's/^/MX-DRIFT ipt /'
    say ipt-status ok
  else say ipt-status failed
  fi
else say ipt-status no-iptables
fi
exit 0
`
}

export interface FileFact {
  readonly state: 'present' | 'missing' | 'symlink' | 'other'
  readonly sha256: string | null
}

/** What the probe reported; fields the probe did not report are absent. */
export interface HostFacts {
  readonly files: Partial<Record<PlacedKey, FileFact>>
  readonly hostsBlock?: FileFact
  /** Unix seconds; null none, 'unreadable' when there but unreadable */
  readonly tokenExp?: number | null | 'unreadable'
  readonly certNotAfter?: number | null | 'unreadable'
  readonly packageVersion?: string | null
  readonly packageSha256?: string | null
  readonly packageRecorded?: string | null
  readonly service?: string
  readonly ready?: 'yes' | 'no' | 'no-client'
  readonly iptables: readonly string[]
  readonly iptablesStatus?: 'ok' | 'no-iptables' | 'failed'
}

const FILE_STATES = new Set(['present', 'missing', 'symlink', 'other'])

function seconds(word: string | undefined): number | null | 'unreadable' {
  if (word === 'none') return null
  return word !== undefined && /^\d+$/.test(word) ? Number(word) : 'unreadable'
}

const noneOr = (word: string | undefined): string | null =>
  word === undefined || word === 'none' ? null : word

/** Parses the probe's output (pure): every line it does not know is ignored. */
export function parseProbe(stdout: string): HostFacts {
  const files: Partial<Record<PlacedKey, FileFact>> = {}
  const iptables: string[] = []
  const facts: { -readonly [K in keyof HostFacts]?: HostFacts[K] } = {}
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('MX-DRIFT ')) continue
    const rest = line.slice('MX-DRIFT '.length)
    const [kind = '', ...words] = rest.split(' ')
    if (kind === 'ipt') {
      iptables.push(rest.slice(4))
      continue
    }
    if (kind === 'file' || kind === 'block') {
      const state = words[words.length - 2] ?? ''
      const sha = words[words.length - 1] ?? '-'
      const key = words.slice(0, -2).join(' ')
      if (!FILE_STATES.has(state)) continue
      const fact: FileFact = {
        state: state as FileFact['state'],
        sha256: /^[0-9a-f]{64}$/.test(sha) ? sha : null
      }
      if (kind === 'block') facts.hostsBlock = fact
      else if (Object.hasOwn(PLACED_PATHS, key)) files[key as PlacedKey] = fact
      continue
    }
    const word = words[0]
    switch (kind) {
      case 'token-exp':
        facts.tokenExp = seconds(word)
        break
      case 'cert-not-after':
        facts.certNotAfter = seconds(word)
        break
      case 'package':
        facts.packageVersion = noneOr(word)
        break
      case 'package-sha256':
        facts.packageSha256 = noneOr(word)
        break
      case 'package-recorded':
        facts.packageRecorded = noneOr(word)
        break
      case 'service':
        facts.service = word ?? ''
        break
      case 'ready':
        if (word === 'yes' || word === 'no' || word === 'no-client') facts.ready = word
        break
      case 'ipt-status':
        if (word === 'ok' || word === 'no-iptables' || word === 'failed')
          facts.iptablesStatus = word
        break
    }
  }
  return { ...facts, files, iptables }
}
