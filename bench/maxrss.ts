// Loaded with --import into a measured child: at exit it writes its peak resident memory (KiB)
// and its CPU time (ms) as JSON to the file MX_BENCH_MAXRSS_FILE names.
import { writeFileSync } from 'node:fs'

const file = process.env.MX_BENCH_MAXRSS_FILE
if (file) {
  process.on('exit', () => {
    const usage = process.resourceUsage()
    writeFileSync(
      file,
      JSON.stringify({
        maxRssKiB: usage.maxRSS,
        cpuMs: Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000)
      })
    )
  })
}
