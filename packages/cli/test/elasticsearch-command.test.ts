import { describe, expect, it } from 'vitest';
import { exited, spawnCli } from './cli-process.js';

describe('lagscale elasticsearch start', () => {
  it('runs a node that answers as Elasticsearch until Ctrl-C, printing the store setting to use', async () => {
    const cli = spawnCli(['elasticsearch', 'start', '--heap-mb', '512']);
    try {
      let url: string | undefined;
      for (let waited = 0; url === undefined && waited < 180_000; waited += 200) {
        url = /^LAGSCALE_STORE=(http:\/\/127\.0\.0\.1:\d+)$/m.exec(cli.output())?.[1];
        if (cli.exitCode !== null) throw new Error(`exited ${cli.exitCode}: ${cli.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(url, cli.output()).toBeDefined();
      const root = (await (await fetch(url as string)).json()) as { version: { number: string }; tagline: string };
      expect(root.version.number).toBe('8.19.21');
      expect(root.tagline).toBe('You Know, for Search');
      cli.kill('SIGINT');
      expect(await exited(cli, 30_000)).toBe(0);
      await expect(fetch(url as string)).rejects.toThrow();
    } finally {
      cli.kill('SIGKILL');
    }
  }, 240_000);

  it('refuses a version it cannot start and a JDK folder without java, with exit 2 and what to give instead', async () => {
    const old = spawnCli(['elasticsearch', 'start', '--elasticsearch-version', '8.15.0']);
    expect(await exited(old)).toBe(2);
    expect(old.output()).toContain('runs 8.19.x and 9.x');
    const noJava = spawnCli(['elasticsearch', 'start', '--java-home', '/nonexistent']);
    expect(await exited(noJava)).toBe(2);
    expect(noJava.output()).toContain("give a JDK's home folder");
  });
});
