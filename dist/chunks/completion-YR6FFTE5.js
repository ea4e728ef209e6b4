import { createRequire as __meCreateRequire } from 'node:module';
import { fileURLToPath as __meFileURLToPath } from 'node:url';
import { dirname as __meDirname } from 'node:path';
const require = __meCreateRequire(import.meta.url);
const __filename = __meFileURLToPath(import.meta.url);
const __dirname = __meDirname(__filename);
import{a as o,b as t}from"./chunk-JQAXXHYG.js";import"./chunk-QRFW3W46.js";var i=`Usage: mesh-expansion completion bash|zsh

Prints a completion script. Load it in the current shell, or install it:
  source <(mesh-expansion completion bash)
  mesh-expansion completion bash > /etc/bash_completion.d/mesh-expansion
  mesh-expansion completion zsh > "\${fpath[1]}/_mesh-expansion"
`;function r(e){return`# bash completion for mesh-expansion (mesh-expansion completion bash)
_mesh_expansion() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${e.join(" ")} --help --version" -- "$cur"))
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
`}function h(e){return`#compdef mesh-expansion
# zsh completion for mesh-expansion (mesh-expansion completion zsh)
autoload -U +X bashcompinit && bashcompinit
${r(e).split(`
`).slice(1).join(`
`)}`}function l(e){return async(p,s)=>{let[n,...a]=p;if(n==="--help"||n==="-h")return s.stdout(i),o.ok;if(a.length>0||n!=="bash"&&n!=="zsh")throw new t(`completion needs the shell: bash or zsh

${i}`);return s.stdout(n==="bash"?r(e):h(e)),Promise.resolve(o.ok)}}export{r as bashCompletion,l as completionCommand,h as zshCompletion};
