import { S2IError } from '../../errors.js';
import type { Command } from '../command.js';
import { globalParams } from '../command.js';
import { loadCommands } from '../command-table.js';

function flags(c: Command): string[] {
  return [...c.params, ...globalParams].flatMap((p) => [`--${p.name}`, ...(p.short ? [`-${p.short}`] : [])]);
}

/** A bash completion script: command names, then that command's flags. */
export function bashCompletion(cmds: Command[]): string {
  const cases = cmds.map((c) => `    ${c.name}) opts="${flags(c).join(' ')}" ;;`).join('\n');
  return `# bash completion for oci-s2i; load with: source <(oci-s2i completion bash)
_oci_s2i() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${cmds.map((c) => c.name).join(' ')}" -- "$cur") )
    return
  fi
  local opts=""
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -F _oci_s2i oci-s2i
`;
}

/** A zsh completion script (compdef), same data. */
export function zshCompletion(cmds: Command[]): string {
  const cases = cmds.map((c) => `    ${c.name}) _arguments '*:file:_files' ${flags(c).filter((f) => f.startsWith('--')).map((f) => `'${f}[]'`).join(' ')} ;;`).join('\n');
  return `#compdef oci-s2i
# zsh completion for oci-s2i; load with: source <(oci-s2i completion zsh)
_oci_s2i() {
  if (( CURRENT == 2 )); then
    compadd ${cmds.map((c) => c.name).join(' ')}
    return
  fi
  case "\${words[2]}" in
${cases}
  esac
}
compdef _oci_s2i oci-s2i
`;
}

export const completionCommand: Command = {
  name: 'completion',
  summary: 'Print a shell completion script for bash or zsh.',
  args: ['SHELL'],
  params: [],
  async run(ctx) {
    const shell = ctx.positionals[0];
    const commands = await loadCommands();
    if (shell === 'bash') ctx.stdout.write(bashCompletion(commands));
    else if (shell === 'zsh') ctx.stdout.write(zshCompletion(commands));
    else throw new S2IError('ERR_USAGE', `completion supports bash and zsh, not "${shell}"`);
    return 0;
  },
};
