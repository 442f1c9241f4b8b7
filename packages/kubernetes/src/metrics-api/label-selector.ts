/**
 * Kubernetes label selectors in their text form (`a=b,c!=d,e in (x,y),f,!g`), as the HPA sends
 * them to an external metrics API. Pure: parse once, match many label sets.
 */
export type LabelRequirement =
  | { readonly key: string; readonly op: 'in'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'notin'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'exists' }
  | { readonly key: string; readonly op: 'doesnotexist' };

export class LabelSelectorError extends Error {
  override readonly name = 'LabelSelectorError';
}

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;

/** Splits on commas outside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

export function parseLabelSelector(text: string | undefined): LabelRequirement[] {
  if (text === undefined || text.trim() === '') return [];
  return terms(text).map((term) => {
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
    if (set !== null) {
      const values = (set[3] as string)
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      return checkKey({ key: set[1] as string, op: set[2] as 'in' | 'notin', values });
    }
    const compare = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (compare !== null) {
      const value = compare[3] as string;
      return checkKey({ key: compare[1] as string, op: compare[2] === '!=' ? 'notin' : 'in', values: [value] });
    }
    if (term.startsWith('!')) return checkKey({ key: term.slice(1).trim(), op: 'doesnotexist' });
    return checkKey({ key: term, op: 'exists' });
  });
}

function checkKey<T extends LabelRequirement>(requirement: T): T {
  if (!KEY.test(requirement.key)) throw new LabelSelectorError(`label selector: "${requirement.key}" is not a label key`);
  return requirement;
}

export function matchesLabels(requirements: readonly LabelRequirement[], labels: Readonly<Record<string, string>>): boolean {
  return requirements.every((r) => {
    const value = labels[r.key];
    switch (r.op) {
      case 'in':
        return value !== undefined && r.values.includes(value);
      case 'notin':
        return value === undefined || !r.values.includes(value);
      case 'exists':
        return value !== undefined;
      default:
        return value === undefined;
    }
  });
}
