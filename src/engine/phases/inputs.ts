// inputs: what the run needs from the runner, read and checked without any connection: the SSH
// secrets (and that known_hosts covers every host), the packages pushed from the runner, the
// addresses the description decides. Problems are kept for preflight, which lists them with the
// cluster's, so one run shows every problem at once.
import { checkKnownHostsCover, checkPackageFiles, checkPrivateKey } from '../../host/preflight.ts'
import { readSshSecrets, type SshSecrets } from '../../host/targets.ts'
import { errorMessage } from '../../util/errors.ts'
import { addressOptionsOf, addressWithoutHost } from '../addresses.ts'
import { captureProblems } from '../files.ts'
import type { Phase } from '../runner.ts'
import type { RunState } from '../state.ts'

export function inputsPhase(what: { packages: boolean }): Phase<RunState> {
  return {
    name: 'inputs',
    title: state =>
      `reading the SSH secrets${what.packages ? ' and packages' : ''} of ${state.vms.length} VM(s)`,
    needs: ['description', 'vms'],
    produces: ['inputs'],
    async run(state) {
      const { description, vms, options } = state
      const problems: string[] = []
      let secrets: SshSecrets | undefined
      const overSsh = vms.filter(vm => vm.host !== 'local')
      if (overSsh.length > 0) {
        const read = readSshSecrets(description.ssh, options.env)
        const keyProblems = read.secrets ? checkPrivateKey(read.secrets) : []
        const knownHosts = options.env[description.ssh.knownHostsEnv] ?? ''
        problems.push(
          ...read.problems,
          ...keyProblems,
          ...checkKnownHostsCover(overSsh, knownHosts, description.ssh)
        )
        if (keyProblems.length === 0) secrets = read.secrets
      }
      const packages = what.packages ? await checkPackageFiles(vms) : { files: [], problems: [] }
      problems.push(...packages.problems)
      // a run that would leave a host unreachable over SSH never starts
      if (what.packages) problems.push(...captureProblems(description, vms))
      const addressOptions = addressOptionsOf(description)
      for (const vm of vms) {
        try {
          addressWithoutHost(vm, addressOptions)
        } catch (error) {
          problems.push(errorMessage(error))
        }
      }
      state.inputs = { secrets, packages: packages.files, addressOptions, problems }
    }
  }
}
