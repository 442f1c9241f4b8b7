import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { autoscalerGroup, loadConfigFile } from '../src/config.js';

function configFile(autoscaler: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'lagscale-share-config-')), 'lagscale.yaml');
  writeFileSync(path, `autoscaler:\n${autoscaler}  target: { type: local, command: [node, worker.js] }\n`);
  return path;
}

describe('autoscaler section naming a share group', () => {
  it('takes shareGroup (with its maximum size) instead of group', () => {
    const file = loadConfigFile(configFile('  shareGroup: validator\n  shareGroupMaxSize: 40\n')) as { autoscaler: Parameters<typeof autoscalerGroup>[0] };
    expect(autoscalerGroup(file.autoscaler)).toEqual({ name: 'validator', kind: 'share' });
    expect(file.autoscaler.shareGroupMaxSize).toBe(40);
    const consumer = loadConfigFile(configFile('  group: orders\n')) as { autoscaler: Parameters<typeof autoscalerGroup>[0] };
    expect(autoscalerGroup(consumer.autoscaler)).toEqual({ name: 'orders', kind: 'consumer' });
  });

  it('refuses both, neither, and a size without a share group, naming the path', () => {
    expect(() => loadConfigFile(configFile('  group: orders\n  shareGroup: validator\n'))).toThrow(
      'autoscaler.shareGroup: give either group (a consumer group) or shareGroup (a share group), not both',
    );
    expect(() => loadConfigFile(configFile(''))).toThrow('autoscaler.group: required (the consumer group to scale), or shareGroup for a share group');
    expect(() => loadConfigFile(configFile('  group: orders\n  shareGroupMaxSize: 5\n'))).toThrow('autoscaler.shareGroupMaxSize: only applies with shareGroup');
    expect(() => loadConfigFile(configFile('  shareGroup: validator\n  shareGroupMaxSize: 0\n'))).toThrow('autoscaler.shareGroupMaxSize');
  });
});
