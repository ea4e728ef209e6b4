// Which HTTP client (curl, wget, python3) a VM or a pod has for the checks' requests.
import type { Vm } from '../config/index.ts'
import {
  directProbeArgv,
  HTTP_TOOLS,
  parseProbe,
  parseProbeAll,
  PROBE_TOOLS_SCRIPT,
  probeToolsArgv,
  type HttpTool
} from './http.ts'
import type { Runtime } from './runtime.ts'
import type { HostShell, PodRef, PodShell } from './types.ts'

/** The client `user` finds on the VM, probed once per VM and user (null: none). */
export function hostTool(
  rt: Runtime,
  vm: Vm,
  shell: HostShell,
  user: string
): Promise<HttpTool | null> {
  const key = `${vm.name}\0${user}`
  let tool = rt.hostTools.get(key)
  if (!tool) {
    // a transport error propagates: the check reports it instead of "no client"
    tool = shell.run(PROBE_TOOLS_SCRIPT, { user, timeoutMs: 15_000 }).then(parseProbe)
    rt.hostTools.set(key, tool)
  }
  return tool
}

/**
 * The HTTP clients a pod has, preferred first: `command -v` through sh, else (no sh) each client
 * tried directly.
 */
export async function podTools(
  pods: PodShell,
  namespace: string,
  pod: PodRef,
  timeoutMs: number
): Promise<HttpTool[]> {
  const probed = await pods.exec(namespace, pod.name, pod.container, probeToolsArgv(), timeoutMs)
  const tools = parseProbeAll(probed)
  if (tools.length > 0) return tools
  if (probed.code === 127 && probed.stdout.trim() === '' && !/not found/.test(probed.stderr)) {
    return [] // sh ran and found none
  }
  const found: HttpTool[] = []
  for (const candidate of HTTP_TOOLS) {
    const direct = await pods.exec(
      namespace,
      pod.name,
      pod.container,
      directProbeArgv(candidate),
      timeoutMs
    )
    if (direct.code === 0) found.push(candidate)
  }
  return found
}
