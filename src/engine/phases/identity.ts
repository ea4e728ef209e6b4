// identity: the material each VM's sidecar proves itself with, read before any host is touched
// (the CA's root certificate, or Citadel's certificates for the older generations); the token
// of a host is minted when its turn comes, so only hosts that answered get one.
import { produced, type Phase } from '../runner.ts'
import type { RunState } from '../state.ts'

export const identity: Phase<RunState> = {
  name: 'identity',
  title: state => `reading what the ${state.vms.length} VM(s) will trust`,
  needs: ['strategy', 'addresses'],
  produces: ['render'],
  async run(state) {
    state.render = await produced(state, 'strategy').identity(produced(state, 'addresses'))
  }
}
