// HostShell over the product's HostTransport (SSH or local): commands as another user go
// through `sudo -n -u`, so a missing sudo right fails at once instead of waiting for a password.
import type { HostTransport } from '../host/transport.ts'
import { asUser } from './http.ts'
import type { HostShell } from './types.ts'

export function hostShellOverTransport(transport: HostTransport, loginUser: string): HostShell {
  return {
    async run(command, options) {
      const result = await transport.exec(asUser(command, options.user, loginUser), {
        timeoutMs: options.timeoutMs
      })
      return { code: result.code, stdout: result.stdout, stderr: result.stderr }
    }
  }
}
