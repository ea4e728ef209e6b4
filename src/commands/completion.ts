// `mesh-expansion completion bash|zsh`: a completion script for the shell. Command names are
// written into it; each command's flags are read from its own --help when completing, so the
// script never falls behind the commands it completes.
import { ExitCode, UsageError, type Command } from './types.ts'

const HELP = `Usage: mesh-expansion completion bash|zsh

Prints a completion script. Load it in the current shell, or install it:
  source <(mesh-expansion completion bash)
  mesh-expansion completion bash > /etc/bash_completion.d/mesh-expansion
  mesh-expansion completion zsh > "\${fpath[1]}/_mesh-expansion"
`

/** The bash completion function; `commands` are the CLI's command names. */
export function bashCompletion(commands: readonly string[]): string {
  return `# bash completion for mesh-expansion (mesh-expansion completion bash)
_mesh_expansion() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands.join(' ')} --help --version" -- "$cur"))
    return
  fi
  case $prev in
    -c|--config|-f|--file|--kubeconfig|--mesh-config|--root-cert|--token|-o|--output)
      COMPREPLY=($(compgen -f -- "$cur"))
      return ;;
  esac
  if [[ $cur == -* ]]; then
    local flags
    flags=$("\${COMP_WORDS[0]}" "\${COMP_WORDS[1]}" --help 2>/dev/null | grep -o -- '--[a-z][a-zA-Z0-9-]*' | sort -u)
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _mesh_expansion mesh-expansion
`
}

/** zsh: the bash function through zsh's bashcompinit, which runs bash completion functions. */
export function zshCompletion(commands: readonly string[]): string {
  return `#compdef mesh-expansion
# zsh completion for mesh-expansion (mesh-expansion completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(commands).split('\n').slice(1).join('\n')}`
}

export function completionCommand(commands: readonly string[]): Command {
  return async (args, io) => {
    const [shell, ...rest] = args
    if (shell === '--help' || shell === '-h') {
      io.stdout(HELP)
      return ExitCode.ok
    }
    if (rest.length > 0 || (shell !== 'bash' && shell !== 'zsh')) {
      throw new UsageError(`completion needs the shell: bash or zsh\n\n${HELP}`)
    }
    io.stdout(shell === 'bash' ? bashCompletion(commands) : zshCompletion(commands))
    return Promise.resolve(ExitCode.ok)
  }
}
