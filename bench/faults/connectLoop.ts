// Off the lab, no root: is the runner's growing RSS in the soak a leak or a pool that levels off?
// The sandbox API runs in a child process (its memory is not measured); this process runs the
// Kubernetes client's connect → list → close N times and prints, every K connections after a
// forced collection, the RSS (anonymous and file-backed pages), the V8 heap (committed, used)
// and the memory V8 tracks outside it (external, of which array buffers).
//   node --expose-gc bench/faults/connectLoop.ts [N=6000] [K=500]
// Loopback only; bounded by N and by the child's own 20-minute limit.
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const SERVE_MARK = 'MX_CONNECT_LOOP_SERVER'

if (process.env[SERVE_MARK] === '1') {
  const { startSandboxCluster } = await import('../../lab/cluster/index.ts')
  const sb = await startSandboxCluster({ host: '127.0.0.1', echo: false })
  process.send?.(sb.kubeconfig)
  const stop = () => void sb.close().then(() => process.exit(0))
  process.on('disconnect', stop)
  setTimeout(stop, 20 * 60_000).unref()
} else {
  const { connect } = await import('../../src/cluster/connection.ts')
  const n = Number(process.argv[2] ?? 6000)
  const every = Number(process.argv[3] ?? 500)
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('run with node --expose-gc')
  const server = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, [SERVE_MARK]: '1' }
  })
  try {
    const kubeconfig = await new Promise<string>((resolve, reject) => {
      server.once('message', m => resolve(String(m)))
      server.once('exit', code => reject(new Error(`the sandbox API ended (${code})`)))
    })
    const mib = (bytes: number): number => Math.round(bytes / 2 ** 20)
    const status = (field: string): number => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(
        readFileSync('/proc/self/status', 'utf8')
      )
      return m ? Math.round(Number(m[1]) / 1024) : -1
    }
    console.log(
      'connections\tRSS MiB\tanonymous\tfile-backed\theap committed\theap used\texternal\tarray buffers'
    )
    for (let i = 1; i <= n; i++) {
      const c = await connect({ kubeconfigContent: kubeconfig, env: {} })
      await c.client.list('v1', 'Namespace', {})
      await c.close()
      if (i === 1 || i % every === 0) {
        gc()
        gc()
        const m = process.memoryUsage()
        console.log(
          [
            i,
            mib(m.rss),
            status('RssAnon'),
            status('RssFile'),
            mib(m.heapTotal),
            mib(m.heapUsed),
            mib(m.external),
            mib(m.arrayBuffers)
          ].join('\t')
        )
      }
    }
  } finally {
    server.disconnect()
  }
}
