import { comparePointers } from './json-pointer.js';

/** One mistake in a rule set document, located by a JSON pointer into that document. */
export interface RuleSetIssue {
  readonly pointer: string;
  readonly message: string;
}

/** Thrown by compileRuleSet with every mistake found, in document order. */
export class RuleSetError extends Error {
  override readonly name = 'RuleSetError';
  readonly code = 'RULE_SET_INVALID';
  readonly issues: readonly RuleSetIssue[];

  constructor(issues: readonly RuleSetIssue[], ruleSetName?: string) {
    const sorted = [...issues].sort((a, b) => comparePointers(a.pointer, b.pointer));
    const title = ruleSetName === undefined ? 'rule set' : `rule set "${ruleSetName}"`;
    const count = `${sorted.length} problem${sorted.length === 1 ? '' : 's'}`;
    super(`${title} is invalid (${count}):\n${sorted.map((issue) => `  ${formatIssue(issue)}`).join('\n')}`);
    this.issues = sorted;
  }
}

export function formatIssue(issue: RuleSetIssue): string {
  return `${issue.pointer === '' ? '(document)' : issue.pointer}: ${issue.message}`;
}
