import { Command, InvalidArgumentError } from "commander";

/** One command of the tree, as the completion scripts need it. */
interface Node {
  /** "" for opsctl itself, else "recs", "recs show", … */
  path: string;
  subcommands: string[];
  options: { flag: string; description: string }[];
}

/** Walks the program's commands (the real tree, so completion never drifts from --help). */
export function commandTree(root: Command): Node[] {
  const nodes: Node[] = [];
  const walk = (command: Command, path: string) => {
    const inherited = path === "" ? [] : root.options.filter((option) => option.long !== "--version");
    const options = [...command.options, ...inherited].flatMap((option) =>
      [option.long, option.short]
        .filter((flag): flag is string => typeof flag === "string")
        .map((flag) => ({ flag, description: option.description })),
    );
    nodes.push({ path, subcommands: command.commands.map((child) => child.name()), options });
    for (const child of command.commands) walk(child, path ? `${path} ${child.name()}` : child.name());
  };
  walk(root, "");
  return nodes;
}

function bash(nodes: Node[]): string {
  const cases = nodes
    .map(
      (node) =>
        `    "${node.path}") words="${[...node.subcommands, ...node.options.map((o) => o.flag)].join(" ")}" ;;`,
    )
    .join("\n");
  const paths = nodes.map((node) => node.path).join("|");
  return `# opsctl completion for bash: eval "$(opsctl completion bash)" (or save it under
# /etc/bash_completion.d/opsctl).
_opsctl_completion() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" key="" next w i words=""
  local paths="|${paths}|"
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    next="\${key:+$key }$w"
    [[ $w != -* && $paths == *"|$next|"* ]] && key="$next"
  done
  case "$key" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _opsctl_completion opsctl
`;
}

function zsh(nodes: Node[]): string {
  return `#compdef opsctl
# opsctl completion for zsh: eval "$(opsctl completion zsh)" (bash's, through bashcompinit).
autoload -U +X bashcompinit && bashcompinit
${bash(nodes)}`;
}

function fish(nodes: Node[]): string {
  const quote = (text: string) => `'${text.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  const lines = ["# opsctl completion for fish: opsctl completion fish | source"];
  lines.push("complete -c opsctl -f");
  for (const node of nodes) {
    const words = node.path.split(" ").filter(Boolean);
    const condition =
      words.length === 0 ? "__fish_use_subcommand" : `__fish_seen_subcommand_from ${words.at(-1)}`;
    for (const sub of node.subcommands) lines.push(`complete -c opsctl -n ${quote(condition)} -a ${sub}`);
    for (const option of node.options) {
      const flag = option.flag.startsWith("--") ? `-l ${option.flag.slice(2)}` : `-s ${option.flag.slice(1)}`;
      lines.push(`complete -c opsctl -n ${quote(condition)} ${flag} -d ${quote(option.description)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export function completionCommand(): Command {
  return new Command("completion")
    .description("print a shell completion script: bash, zsh or fish")
    .argument("<shell>", "bash | zsh | fish", (shell: string) => {
      if (!["bash", "zsh", "fish"].includes(shell))
        throw new InvalidArgumentError("must be bash, zsh or fish");
      return shell as "bash" | "zsh" | "fish";
    })
    .addHelpText(
      "after",
      `
Examples:
  eval "$(opsctl completion bash)"        in ~/.bashrc
  eval "$(opsctl completion zsh)"         in ~/.zshrc
  opsctl completion fish | source        in ~/.config/fish/config.fish`,
    )
    .action((shell: "bash" | "zsh" | "fish", _options: unknown, command: Command) => {
      let root = command;
      while (root.parent) root = root.parent;
      const nodes = commandTree(root);
      process.stdout.write(shell === "bash" ? bash(nodes) : shell === "zsh" ? zsh(nodes) : fish(nodes));
    });
}
