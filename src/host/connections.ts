// Connections kept open across phases: one per host for the checks of `verify` (apply keeps the
// ones onboarding opened), and the question "what is your address?" asked over them.
import type { Description, Vm } from '../config/defaults.ts'
import { errorMessage } from '../util/errors.ts'
import { shellQuote } from '../util/shell.ts'
import { hostTarget, type SshSecrets } from './targets.ts'
import type { HostTransport } from './transport.ts'

/** Opens one transport per VM; a VM that cannot be reached gets none (and a warning). */
export async function openTransports(
  description: Description,
  vms: readonly Vm[],
  secrets: SshSecrets | undefined,
  warn: (message: string) => void
): Promise<Map<string, HostTransport>> {
  const transports = new Map<string, HostTransport>()
  await Promise.all(
    vms.map(async vm => {
      try {
        const target = hostTarget(vm, description.ssh, secrets, warn)
        transports.set(vm.name, await target.connect())
      } catch (error) {
        warn(`${vm.name}: no connection for the checks: ${errorMessage(error)}`)
      }
    })
  )
  return transports
}

export async function closeTransports(
  transports: ReadonlyMap<string, HostTransport>
): Promise<void> {
  await Promise.all([...transports.values()].map(transport => transport.close()))
}

// The source address of the default route's interface (what the host sends from), else the
// first address `hostname -I` lists. Reads only the host's own tables: no packet leaves it.
export const PRIMARY_ADDRESS_COMMAND =
  'dev=$(ip -o -4 route show default 2>/dev/null | awk \'{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}\'); ' +
  'if [ -n "$dev" ]; then ip -o -4 addr show dev "$dev" scope global | awk \'{ split($4, a, "/"); print a[1]; exit }\'; ' +
  "else hostname -I 2>/dev/null | awk '{ print $1 }'; fi"

/** Asks one fact of a host; null when it has no answer. */
export type AskHost = (vm: Vm, what: 'host-primary' | 'public-lookup') => Promise<string | null>

/** Asks over a host's transport: its primary address, or its public IP from the lookup URL. */
export function askOver(
  transport: (vm: Vm) => HostTransport | undefined,
  publicLookupUrl?: string
): AskHost {
  return async (vm, what) => {
    const host = transport(vm)
    if (!host) throw new Error(`${vm.name}: no connection to ask the host for its address`)
    const command =
      what === 'host-primary'
        ? PRIMARY_ADDRESS_COMMAND
        : `curl -fsS --max-time 5 ${shellQuote(publicLookupUrl ?? '')}`
    const result = await host.exec(command, { timeoutMs: 15_000 })
    const answer = result.stdout.trim().split(/\s+/)[0] ?? ''
    return result.code === 0 && answer !== '' ? answer : null
  }
}
