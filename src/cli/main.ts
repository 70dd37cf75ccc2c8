// The confighash command line: `run` (the webhook and controller), and the
// inspection commands. Also installed as the kubectl plugin `kubectl-confighash`.
// Each command is loaded when it runs: the reload agent (and its probe, run in
// the agent's small container) must not load the Kubernetes client it never uses.
import { UsageError } from './run-options.ts';

const USAGE = `usage: confighash <command> [flags]      (or: kubectl confighash <command> [flags])

commands:
  run       run the admission webhook and the controller (the image's entrypoint)
  status    every tracked workload: sources, stored vs current checksum, state
  explain   one workload's sources: consumed keys, references, stored and current digests
  history   one workload's revisions, with the configuration each ran
  rotate-key  sign new Secret digests with a new HMAC key (rolls nothing)
  migrate-check  workloads with stakater Reloader's annotations: what confighash will do, and what differs
  agent     the reload agent: reloads a program in place when its mounted configuration changes

Run "confighash <command> --help" for a command's flags.
`;

const SUBCOMMANDS: Record<string, (argv: readonly string[]) => Promise<number>> = {
  status: async (argv) => (await import('./inspect-commands.ts')).status(argv),
  explain: async (argv) => (await import('./inspect-commands.ts')).explain(argv),
  history: async (argv) => (await import('./history.ts')).history(argv),
  'rotate-key': async (argv) => (await import('./rotate-key.ts')).rotateKeyCommand(argv),
  'migrate-check': async (argv) => (await import('./migrate-check.ts')).migrateCheck(argv),
  agent: async (argv) => (await import('./agent.ts')).agentCommand(argv),
};

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'run') {
    const { parseRunOptions, runUsage } = await import('./run-options.ts');
    if (rest.includes('--help') || rest.includes('-h')) return print(runUsage(), 0);
    (await import('../kube/lean-kubeconfig.ts')).loadKubeConfigWithoutGeneratedClients();
    const { run } = await import('./run.ts');
    await run(parseRunOptions(rest, process.env));
    return 0;
  }
  const subcommand = SUBCOMMANDS[command ?? ''];
  if (subcommand) return subcommand(rest);
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') return print(USAGE, 0);
  return print(`unknown command "${command}"\n\n${USAGE}`, 2);
}

function print(text: string, code: number): number {
  (code === 0 ? process.stdout : process.stderr).write(text);
  return code;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  process.stderr.write(`confighash: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = usage ? 2 : 1;
}
