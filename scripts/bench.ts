// `npm run bench -- <name> [--json]`: runs one benchmark from scripts/bench/<name>.ts.
const BENCHES = ['engine', 'runtime', 'shards', 'predictor', 'edge', 'kube-api', 'layers', 'split'] as const;

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !(BENCHES as readonly string[]).includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${BENCHES.join('|')}> [--json]\n`);
  process.exit(2);
}
const mod = (await import(`./bench/${name}.ts`)) as { main(argv: string[]): Promise<void> };
await mod.main(rest);
