// A sandbox API for a person with kubectl (`npm run lab -- cluster`): started in the foreground,
// a kubeconfig written 0600 in a fresh directory, served until Ctrl-C, SIGTERM or a time limit
// (bounded, default one hour), then the server closed and the kubeconfig removed (its token dies
// with the server). It listens on the lab's bridge address when the bridge is up on this machine
// (VMs reach it there), else on loopback; on a free port unless one is asked for.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSandboxCluster, type AuthorizationMode, type SandboxCluster } from './index.ts'

export const LAB_BRIDGE_ADDRESS = '198.18.0.1'
export const MAX_SESSION_SECONDS = 24 * 3600

export interface SessionOptions {
  /** listen address (default: the lab bridge's when it is up here, else 127.0.0.1) */
  host?: string
  /** 0 = a free port (default) */
  port?: number
  /** how long to serve (default 3600, at most a day) */
  seconds?: number
  istioVersion?: string
  /** the sandbox's authorization mode (default: the sandbox's default) */
  authorization?: AuthorizationMode
  /** print every request */
  logRequests?: boolean
  /** where lines go (default console.log) */
  print?: (line: string) => void
  /** ends the session early (tests) */
  signal?: AbortSignal
}

/** Is the lab's bridge address configured on this machine? */
export function labBridgeIsUp(): boolean {
  return Object.values(networkInterfaces()).some(list =>
    (list ?? []).some(a => a.address === LAB_BRIDGE_ADDRESS)
  )
}

/** Serves a sandbox API until interrupted or the time is up; resolves with why it ended. */
export async function runSandboxSession(
  options: SessionOptions = {}
): Promise<'interrupted' | 'time limit'> {
  const print = options.print ?? ((line: string) => console.log(line))
  const seconds = options.seconds ?? 3600
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_SESSION_SECONDS)
    throw new Error(`--for wants 1..${MAX_SESSION_SECONDS} seconds, got ${String(seconds)}`)
  const host = options.host ?? (labBridgeIsUp() ? LAB_BRIDGE_ADDRESS : '127.0.0.1')
  const dir = await mkdtemp(join(tmpdir(), 'mesh-expansion-sandbox-'))
  const kubeconfig = join(dir, 'kubeconfig')
  let cluster: SandboxCluster | undefined
  try {
    cluster = await startSandboxCluster({
      host,
      port: options.port ?? 0,
      echo: false,
      ...(options.istioVersion ? { istioVersion: options.istioVersion } : {}),
      ...(options.authorization ? { authorization: options.authorization } : {})
    })
    await writeFile(kubeconfig, cluster.kubeconfig, { mode: 0o600 })
    if (options.logRequests)
      cluster.requestLog.onEntry(e =>
        print(`${e.time} ${e.status} ${e.method} ${e.path} ${e.user ?? '-'}`)
      )
    print(
      `sandbox API (Istio ${cluster.istioVersion}, authorization ${cluster.authorization}) at ${cluster.url} for ${seconds} s; Ctrl-C ends it`
    )
    print(`export KUBECONFIG=${kubeconfig}`)
    return await new Promise(resolve => {
      const finish = (why: 'interrupted' | 'time limit'): void => {
        clearTimeout(timer)
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        options.signal?.removeEventListener('abort', onSignal)
        resolve(why)
      }
      const onSignal = (): void => finish('interrupted')
      const timer = setTimeout(() => finish('time limit'), seconds * 1000)
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      if (options.signal?.aborted) onSignal()
      options.signal?.addEventListener('abort', onSignal, { once: true })
    })
  } finally {
    await cluster?.close()
    await rm(dir, { recursive: true, force: true })
  }
}
