#!/usr/bin/env node
// CLI entry: checks the Node.js version, then picks a command and runs it. Commands are loaded
// lazily so that start-up only pays for the command that runs; the version check comes before
// any of them is loaded, because an older Node fails inside a library with a message that says
// nothing of the cause.
const MIN_NODE_MAJOR = 24
if (Number(process.versions.node.split('.')[0]) < MIN_NODE_MAJOR) {
  process.stderr.write(
    `mesh-expansion needs Node.js ${MIN_NODE_MAJOR} or later; this is ${process.version}\n`
  )
  process.exit(2)
}

const { runCli } = await import('./commands/index.ts')
process.exitCode = await runCli(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env,
  isTTY: process.stdout.isTTY === true,
  stdout: text => process.stdout.write(text),
  stderr: text => process.stderr.write(text)
})
