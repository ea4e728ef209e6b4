// `npm run demo`: the lab with three VMs, the bundled Action run exactly as GitHub runs it
// (apply, then its post step), the job summary printed, and the lab taken down again. The
// runner stand-in (lab/github.ts) fails the demo if any secret is readable in what it shows.
import { readFileSync } from 'node:fs'
import { startLabEnvironment } from './environment.ts'
import { runAction } from './github.ts'
import { labStatus, runInVm } from './vms/index.ts'

const say = (line: string): void => console.log(`[demo] ${line}`)

/** The job summary is HTML; a terminal reads it better as text. */
function summaryAsText(html: string): string {
  return html
    .replace(/<\/t[hd]>/g, ' | ')
    .replace(/<\/(tr|h\d|p|li|pre|summary)>/g, '\n')
    .replace(/<br\s*\/?>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&gt;/g, '>')
    .replace(/&lt;/g, '<')
    .replace(/&amp;/g, '&')
    .replace(/\n{3,}/g, '\n\n')
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error(
      'npm run demo needs root: the lab boots VMs with systemd-nspawn in network namespaces.'
    )
    return 1
  }
  const started = Date.now()
  const env = await startLabEnvironment({
    vms: 3,
    meshedPod: true,
    log: say
  })
  try {
    const inputs = {
      'config-file': 'examples/lab.yaml',
      command: 'apply',
      cleanup: 'always',
      kubeconfig: readFileSync(env.kubeconfigPath, 'utf8'),
      'ssh-private-key': env.secrets.SSH_PRIVATE_KEY,
      'known-hosts': env.secrets.SSH_KNOWN_HOSTS
    }
    say(
      'running dist/main.js as GitHub runs it (INPUT_*, GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY)'
    )
    const main = await runAction('main', { inputs, timeoutMs: 300_000 })
    process.stdout.write(main.stdout)
    say(`main exited ${main.code}`)
    console.log('\n================ job summary ================')
    console.log(summaryAsText(main.summary))
    console.log('================ outputs ================')
    for (const name of ['ready-hosts', 'failed-hosts', 'checks'])
      console.log(`${name}: ${main.outputs[name]}`)

    say('running dist/post.js with the state main saved (cleanup: always)')
    const post = await runAction('post', { inputs, state: main.state, timeoutMs: 300_000 })
    process.stdout.write(post.stdout)
    say(`post exited ${post.code}`)
    // runAction throws a SecretLeak when any secret it knows is readable: reaching here proves it
    say(
      `runner stand-in: ${main.masks.length + post.masks.length} value(s) masked; no secret readable in the log, summary, outputs or state`
    )

    const managed = env.cluster.store
      .list('workloadentries', 'vm')
      .concat(env.cluster.store.list('workloadgroups', 'vm'))
      .filter(
        o =>
          (o.metadata as { labels?: Record<string, string> }).labels?.[
            'mesh-expansion.io/owner'
          ] === 'run-4242'
      )
    const sidecars = await Promise.all(
      env.vms.map(
        async vm => (await runInVm(vm, 'dpkg -s istio-sidecar >/dev/null 2>&1')).code === 0
      )
    )
    say(
      `after post: ${managed.length} managed object(s) of this run in the cluster, ${sidecars.filter(Boolean).length} sidecar(s) on the VMs`
    )
    say(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`)
    return main.code === 0 && post.code === 0 && managed.length === 0 && !sidecars.some(Boolean)
      ? 0
      : 1
  } finally {
    await env.close()
    const status = await labStatus()
    const left = status.vms.filter(vm => vm.running).length + status.strayNetns.length
    say(`lab down (${left === 0 ? 'nothing left' : `${left} VM(s) or namespace(s) left!`})`)
  }
}

process.exitCode = await main().catch(error => {
  console.error(`[demo] failed: ${error instanceof Error ? error.stack : String(error)}`)
  return 1
})
