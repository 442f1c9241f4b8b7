import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built `lagscale` command. */
export const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export type CliProcess = ChildProcess & { output: () => string };

/**
 * `lagscale ARGS` as a process with its stdout and stderr kept together; API tokens and a config
 * file named by the caller's environment are not passed on, so each test says what it gives.
 */
export function spawnCli(args: readonly string[], env: Record<string, string> = {}): CliProcess {
  const { LAGSCALE_API_TOKENS: _tokens, LAGSCALE_CONFIG: _config, ...rest } = process.env;
  const child = spawn(process.execPath, [main, ...args], { env: { ...rest, LAGSCALE_LOG_LEVEL: 'info', ...env } });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  return Object.assign(child, { output: () => output });
}

/**
 * The exit code; null if it still runs after `withinMs`: then it is stopped (SIGTERM, which also
 * stops its children, then SIGKILL), so a refusal that did not happen leaves nothing listening.
 */
export function exited(child: ChildProcess, withinMs = 20_000): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve(child.exitCode);
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      child.once('exit', () => resolve(null));
    }, withinMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** The port of the `"url"` its start-up log line names, once it is listening. */
export async function listening(child: CliProcess, what: string, withinMs = 15_000): Promise<number> {
  for (let waited = 0; waited < withinMs; waited += 100) {
    const match = /"url":"http:\/\/[^"]*:(\d+)"/.exec(child.output());
    if (match) return Number(match[1]);
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}: ${child.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not start: ${child.output()}`);
}
