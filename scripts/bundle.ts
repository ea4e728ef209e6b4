// Bundles the three entry points into dist/ with esbuild, after regenerating
// src/host/installScript.ts from install.sh (the bundle embeds the script as a string).
// Why esbuild and not ncc/rollup: ncc's ESM output of ssh2 dies on `__dirname` at load
// (ssh2's poly1305 WebAssembly loader); esbuild with a small banner that defines `require`,
// `__filename` and `__dirname` from `import.meta.url` runs cleanly, and `.node` addons are
// left out so ssh2 uses its pure JavaScript code and no platform binary lands in dist/.
import { build } from 'esbuild'
import { rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { writeInstallScript } from './install-script.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const banner = [
  "import { createRequire as __meCreateRequire } from 'node:module';",
  "import { fileURLToPath as __meFileURLToPath } from 'node:url';",
  "import { dirname as __meDirname } from 'node:path';",
  'const require = __meCreateRequire(import.meta.url);',
  'const __filename = __meFileURLToPath(import.meta.url);',
  'const __dirname = __meDirname(__filename);'
].join('\n')

if (await writeInstallScript()) console.log('src/host/installScript.ts regenerated from install.sh')
await rm(`${root}/dist`, { recursive: true, force: true })
// esbuild has already printed the errors; exit without a second, longer copy of them.
await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/main.ts', post: 'src/post.ts', cli: 'src/cli.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  format: 'esm',
  platform: 'node',
  target: 'node24',
  minify: true,
  legalComments: 'none',
  banner: { js: banner },
  loader: { '.node': 'empty' },
  logLevel: 'warning'
}).catch(() => process.exit(1))
