// `npm run lab -- up [--vms N] [--latency MS] [--node] | down | status | cluster [--for SECONDS]`
import { parseArgs } from 'node:util'
import type { AuthorizationMode } from './cluster/index.ts'
import { runSandboxSession } from './cluster/session.ts'
import { downLab, labStatus, sshCommand, upLab, type LabState } from './vms/index.ts'

const usage = `usage: npm run lab -- <command> [options]
  up [--vms N] [--latency MS] [--node]   boot N Debian VMs (default 3); --latency adds a delaying
                                         relay in front of each sshd (round trip MS); --node makes
                                         this Node binary available in each VM at /opt/node/bin/node
  down                                   remove every VM, namespace, bridge, mount and process
  status                                 show the lab (add --json for the state as JSON)
  cluster [--for SECONDS] [--istio V] [--authorization RBAC|AlwaysAllow]
          [--host H] [--port P] [--log]
                                         run the sandbox Kubernetes API in the foreground for
                                         kubectl: prints \`export KUBECONFIG=...\`, serves until
                                         Ctrl-C or SECONDS (default 3600), then removes it all;
                                         no root needed (on 198.18.0.1 when the lab is up)`

const log = (line: string): void => console.log(`lab: ${line}`)

function printLab(state: LabState): void {
  console.log(
    `bridge ${state.bridge} ${state.bridgeAddress}/16 (+ ${state.gatewayAddress}); cluster namespace ${state.clusterNetns} at ${state.clusterAddress}`
  )
  if (state.latencyMs > 0)
    console.log(`latency: ${state.latencyMs} ms round trip through the relay`)
  for (const vm of state.vms) {
    console.log(`${vm.name} ${vm.address} ${vm.hostKeyFingerprint}`)
    console.log(`  ${sshCommand(vm).join(' ')}`)
  }
}

function authorizationMode(value: string): AuthorizationMode {
  if (value === 'RBAC' || value === 'AlwaysAllow') return value
  throw new Error(`--authorization wants RBAC or AlwaysAllow, got ${value}`)
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      vms: { type: 'string', default: '3' },
      latency: { type: 'string', default: '0' },
      node: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      for: { type: 'string', default: '3600' },
      istio: { type: 'string' },
      authorization: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string', default: '0' },
      log: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  const command = positionals[0]
  if (values.help || command === undefined) {
    console.log(usage)
    return command === undefined && !values.help ? 2 : 0
  }
  switch (command) {
    case 'up': {
      const vms = Number(values.vms)
      const latencyMs = Number(values.latency)
      if (!Number.isInteger(vms) || vms < 0)
        throw new Error(`--vms wants a whole number, got ${values.vms}`)
      if (!Number.isFinite(latencyMs) || latencyMs < 0)
        throw new Error(`--latency wants milliseconds, got ${values.latency}`)
      const started = Date.now()
      const options: Parameters<typeof upLab>[0] = { vms, latencyMs, log, ownLab: false }
      if (values.node) options.nodeBinary = process.execPath
      const state = await upLab(options)
      printLab(state)
      console.log(
        `all ${state.vms.length} VMs reachable over SSH in ${((state.readyMs ?? 0) / 1000).toFixed(1)} s (boot); ${((Date.now() - started) / 1000).toFixed(1)} s in all`
      )
      return 0
    }
    case 'down': {
      await downLab({ log, force: true })
      console.log('lab is down')
      return 0
    }
    case 'status': {
      const status = await labStatus()
      if (values.json) {
        console.log(
          JSON.stringify(status, (k, v: unknown) => (k === 'privateKey' ? undefined : v), 2)
        )
        return status.up ? 0 : 1
      }
      if (status.state === undefined) console.log('lab is down')
      else {
        printLab(status.state)
        for (const vm of status.vms)
          console.log(`${vm.name}: ${vm.running ? 'running' : 'NOT running'}`)
      }
      if (status.strayNetns.length > 0) {
        console.log(`leftover namespaces (run "down"): ${status.strayNetns.join(' ')}`)
      }
      return status.up ? 0 : 1
    }
    case 'cluster': {
      // its own command, not part of `up`: `up` needs root and returns while the VMs run on,
      // but the sandbox API lives in this process, so it runs in the foreground until stopped
      const seconds = Number(values.for)
      const port = Number(values.port)
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`--port wants a port number, got ${values.port}`)
      const why = await runSandboxSession({
        seconds,
        port,
        ...(values.authorization ? { authorization: authorizationMode(values.authorization) } : {}),
        logRequests: values.log,
        ...(values.istio ? { istioVersion: values.istio } : {}),
        ...(values.host ? { host: values.host } : {})
      })
      console.log(`sandbox API stopped (${why}); its kubeconfig is removed`)
      return 0
    }
    default:
      console.error(`unknown command: ${command}\n${usage}`)
      return 2
  }
}

main().then(
  code => process.exit(code),
  (e: Error) => {
    console.error(`lab: ${e.message}`)
    process.exit(1)
  }
)
