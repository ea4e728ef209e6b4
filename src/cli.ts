#!/usr/bin/env node
// CLI entry: picks a command and runs it. Commands are loaded lazily so that start-up
// only pays for the command that runs.
import { runCli } from './commands/index.ts'

process.exitCode = await runCli(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env,
  isTTY: process.stdout.isTTY === true,
  stdout: text => process.stdout.write(text),
  stderr: text => process.stderr.write(text)
})
