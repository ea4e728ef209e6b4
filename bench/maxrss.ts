// Loaded with --import into a measured child: at exit it writes its peak resident memory (KiB)
// to the file MX_BENCH_MAXRSS_FILE names.
import { writeFileSync } from 'node:fs'

const file = process.env.MX_BENCH_MAXRSS_FILE
if (file) {
  process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)))
}
