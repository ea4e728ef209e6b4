// What to do about a failure: known kinds of failure (from the host's error, a check's kind and
// diagnosis, a problem that stopped the run) mapped to the one command or setting that fixes
// it. The diagnosis says why; this says what next. Pure, and plain text: renderers escape it.
import type { HostResult } from '../host/onboard.ts'
import type { CheckResult } from '../verify/types.ts'

export interface Fix {
  /** The kind of failure; failures of one kind are grouped (`ssh-auth`, `check-status`). */
  kind: string
  /** What to do, in words. */
  text: string
  /** The command to run or the setting to change, shown as code. */
  code?: string
}

interface Rule {
  kind: string
  /** Matched against `phase: message` of a host, or a problem line. */
  test: RegExp
  text: string
  code?: string
}

/** Host failures, most specific first. The host's own checks (install.sh) come as `check: …`. */
const HOST_RULES: readonly Rule[] = [
  {
    kind: 'ssh-auth',
    test: /authentication failed|all configured authentication methods failed|permission denied \(publickey/i,
    text: 'Use the right SSH user, and put the public half of ssh-private-key in that user’s authorized_keys',
    code: 'vms[].user / ssh.user'
  },
  {
    kind: 'ssh-host-key',
    test: /host key|known.hosts|fingerprint/i,
    text: 'Add the host’s key, checked out of band, to known-hosts',
    code: 'ssh-keyscan -t ed25519 HOST >> known_hosts'
  },
  {
    kind: 'ssh-unreachable',
    test: /^connect: .*(timed out|timeout|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|refused|unreachable)/i,
    text: 'Open the SSH port from the runner to the host (firewall, security group), or go through a jump host',
    code: 'vms[].port / ssh.jump / ssh.connectTimeout'
  },
  {
    kind: 'host-sudo',
    test: /sudo: |needs root/i,
    text: 'Let the SSH user run sudo without a password',
    code: 'echo "USER ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/mesh-expansion'
  },
  {
    kind: 'host-clock',
    test: /clock: /i,
    text: 'Synchronise the host’s clock (tokens and certificates are time-bound)',
    code: 'timedatectl set-ntp true'
  },
  {
    kind: 'host-disk',
    test: /disk: /i,
    text: 'Free space under /var/lib on the host',
    code: 'df -h /var/lib'
  },
  {
    kind: 'host-port',
    test: /port: TCP port/i,
    text: 'Stop or move the process that holds a port the sidecar needs',
    code: 'ss -ltnp'
  },
  {
    kind: 'host-iptables',
    test: /iptables: /i,
    text: 'Install iptables with its nat table on the host',
    code: 'apt-get install iptables'
  },
  {
    kind: 'host-os',
    test: /(os|arch|systemd): /i,
    text: 'Onboard this host another way: it is not a systemd Debian/Ubuntu or RHEL-like amd64/arm64 host'
  },
  {
    kind: 'package',
    test: /^(package|download|push)\b|depends: |package: /i,
    text: 'Give the sidecar package the host can install: a URL it reaches, or a local file to push',
    code: 'sidecar.package'
  },
  {
    kind: 'timeout',
    test: /did not finish within/i,
    text: 'Give the install more time, or find what it waits on in the host’s log',
    code: 'ssh.commandTimeout'
  },
  {
    kind: 'not-ready',
    test: /^(ready|service)\b/i,
    text: 'Read the sidecar’s log on the host; most often istiod is not reachable on 15012 from it',
    code: 'journalctl -u istio -n 50'
  },
  {
    kind: 'unsafe-path',
    test: /unsafe-path: |owner: |write: /i,
    text: 'Make the directories the sidecar writes to root’s and writable by root only'
  }
]

/** Problems that stopped the run (preflight, cluster, register). */
const PROBLEM_RULES: readonly Rule[] = [
  {
    kind: 'rollout-stopped',
    test: /^rollout stopped at batch \d+/,
    text: 'Fix what failed in that batch (below); the later batches were not touched, the next apply goes on from there',
    code: 'settings.rollout.maxUnavailable'
  },
  {
    kind: 'ssh-key',
    test: /no SSH private key|private key .*(cannot|could not|unreadable|passphrase)|passphrase/i,
    text: 'Give the SSH private key (and its passphrase) through the inputs or the variables the description names',
    code: 'ssh-private-key / ssh.privateKeyEnv / ssh.passphraseEnv'
  },
  {
    kind: 'package-file',
    test: /sidecar\.package of .*: cannot read/i,
    text: 'Point sidecar.package at a readable package file on the runner, or at an https URL',
    code: 'sidecar.package'
  },
  {
    kind: 'kube-unreachable',
    test: /cannot reach the Kubernetes API|ECONNREFUSED|Connect Timeout/i,
    text: 'Make the API server of the kubeconfig reachable from the runner',
    code: 'kubectl --kubeconfig FILE get --raw /version'
  },
  {
    kind: 'kube-auth',
    test: /\b401\b|Unauthorized|token.*expired/i,
    text: 'Give a kubeconfig with valid credentials',
    code: 'kubeconfig'
  },
  {
    kind: 'kube-forbidden',
    test: /\b403\b|forbidden/i,
    text: 'Grant the kubeconfig’s identity the permissions the run needs (docs/rbac.md)',
    code: 'kubectl auth can-i --list'
  },
  {
    kind: 'conflict',
    test: /conflict|not ours|exists without our label/i,
    text: 'Take the object over explicitly, or rename yours',
    code: 'settings.adopt'
  },
  {
    kind: 'istio-missing',
    test: /Istio .*not found|no istiod|istiod.*not found/i,
    text: 'Install Istio in the cluster first, or name its namespace',
    code: 'cluster.istioNamespace'
  },
  ...HOST_RULES
]

const OTHER: Fix = { kind: 'other', text: 'Read the message and the log of the step' }

const fixOf = (rule: Rule): Fix => ({
  kind: rule.kind,
  text: rule.text,
  ...(rule.code !== undefined ? { code: rule.code } : {})
})

/** The fix for a failed host, from the phase it failed in and its message. */
export function hostFix(host: HostResult): Fix {
  if (host.rolledBack) {
    return {
      kind: 'rolled-back',
      text: 'The update was not ready in time; the previous sidecar runs again. Read why in the new one’s log',
      code: 'journalctl -u istio -n 50'
    }
  }
  if (host.diagnosis?.cause === 'control-plane' && host.error?.phase === 'render') {
    // its token or WorkloadEntry: the Kubernetes API did not keep up, after the same retries
    return {
      kind: 'control-plane',
      text: 'The Kubernetes API did not answer in time (timeouts, overload) while this host’s token or WorkloadEntry was made, after retries: run again, lower settings.parallelism, or give the API server more capacity',
      code: 'settings.parallelism'
    }
  }
  if (host.diagnosis?.cause === 'control-plane') {
    // tried again in the run already (src/host/fanout.ts adaptive): istiod did not keep up
    return {
      kind: 'control-plane',
      text: 'istiod did not answer the new sidecars in time (timeouts, refusals, rate limits): run again (it starts with few hosts and adapts), lower settings.parallelism, or give istiod and the east-west gateway more capacity',
      code: 'settings.parallelism'
    }
  }
  const what = `${host.error?.phase ?? ''}: ${host.error?.message ?? ''}`
  const rule = HOST_RULES.find(r => r.test.test(what))
  return rule ? fixOf(rule) : OTHER
}

/** The fix for a problem line that stopped the run. */
export function problemFix(problem: string): Fix {
  const rule = PROBLEM_RULES.find(r => r.test.test(problem))
  return rule ? fixOf(rule) : OTHER
}

/** What each kind of check proves, and where to look when it does not. */
const CHECK_FIXES: Readonly<Record<CheckResult['kind'], Omit<Fix, 'kind'>>> = {
  'sidecar-ready': {
    text: 'Read the sidecar’s log on the VM',
    code: 'journalctl -u istio -n 50'
  },
  'istiod-connection': {
    text: 'Let the VM reach istiod on 15012 (east-west gateway, firewall)',
    code: 'cluster.istiodAddress'
  },
  'workload-entry-health': {
    text: 'Make the group’s probe pass on the VM, or fix the probe',
    code: 'workloadGroups[].probe'
  },
  'host-to-cluster': {
    text: 'Check the name resolves through the sidecar and the service answers',
    code: 'checks[].expect'
  },
  'cluster-to-host': {
    text: 'Check the group’s ports are the ones the app listens on (inbound capture)',
    code: 'workloadGroups[].ports'
  },
  'host-to-host': {
    text: 'Check both VMs’ sidecars are ready and the target’s ports are in its group',
    code: 'workloadGroups[].ports'
  },
  'pod-to-pod': {
    text: 'Check the pods are injected and the service answers',
    code: 'checks[].expect'
  },
  'strict-mtls': {
    text: 'Make every caller of the VM a mesh workload (STRICT refuses plain text)',
    code: 'PeerAuthentication'
  }
}

/** The fix for a failed check; a check of a host that failed is fixed by fixing that host. */
export function checkFix(check: CheckResult, failedHosts: ReadonlySet<string>): Fix {
  if (check.vm !== undefined && failedHosts.has(check.vm)) {
    return { kind: 'host-failed', text: `Fix host ${check.vm} first (above); this check follows` }
  }
  const diagnosis = check.diagnosis ?? ''
  if (/^expected status \d+, got \d+/.test(diagnosis)) {
    return {
      kind: 'check-status',
      text: 'The service answered with another status: fix the service, or what the check expects',
      code: 'checks[].expect.status'
    }
  }
  return { kind: `check-${check.kind}`, ...CHECK_FIXES[check.kind] }
}
