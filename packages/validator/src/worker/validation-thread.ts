/**
 * A validation thread (see `ValidationThreads`): compiles the rule sets it is handed and answers
 * each batch with `validateBatch`'s output, moving its buffers back instead of copying them.
 */
import { parentPort } from 'node:worker_threads';
import { transferables, validateBatch } from './batch-validation.js';
import { CompiledRuleSets, type FromThread, type ToThread } from './validation-threads.js';

const port = parentPort;
if (port === null) throw new Error('validation-thread.js runs as a worker thread, not as a program');
const ruleSets = new CompiledRuleSets();
port.on('message', (message: ToThread) => {
  if (message.type === 'ruleSet') {
    ruleSets.add(message.key, message.document);
    return;
  }
  try {
    const output = validateBatch(message.input, (key) => ruleSets.get(key));
    port.postMessage({ id: message.id, output } satisfies FromThread, transferables(output));
  } catch (error) {
    port.postMessage({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies FromThread);
  }
});
