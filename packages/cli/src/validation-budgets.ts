import { VALIDATION_BUDGETS, type ValidationBudgets } from '@lagscale/validator';
import type { Command } from 'commander';
import { parseInteger } from './config.js';

export interface BudgetFlags {
  recordBudgetMs?: string;
  compileBudgetMs?: string;
  threadHeapMb?: string;
}

/** The flags that set what one record, one compile and one validation thread may cost (`lagscale worker`, `lagscale api`). */
export function addBudgetOptions(command: Command): Command {
  return command
    .option(
      '--record-budget-ms <ms>',
      `time one record may take to validate; over it the record goes to the DLQ (validation_timeout) (default ${VALIDATION_BUDGETS.recordMs})`,
    )
    .option('--compile-budget-ms <ms>', `time one rule set may take to compile (default ${VALIDATION_BUDGETS.compileMs})`)
    .option('--thread-heap-mb <mb>', `heap of one validation thread (default ${VALIDATION_BUDGETS.threadHeapMb})`);
}

export function budgetsFrom(flags: BudgetFlags): Partial<ValidationBudgets> {
  return {
    ...(flags.recordBudgetMs === undefined ? {} : { recordMs: parseInteger(flags.recordBudgetMs, '--record-budget-ms', 1, 3_600_000) }),
    ...(flags.compileBudgetMs === undefined ? {} : { compileMs: parseInteger(flags.compileBudgetMs, '--compile-budget-ms', 1, 3_600_000) }),
    ...(flags.threadHeapMb === undefined ? {} : { threadHeapMb: parseInteger(flags.threadHeapMb, '--thread-heap-mb', 16, 65_536) }),
  };
}
