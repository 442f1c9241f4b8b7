import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { RuleSetEditorPage } from '../src/pages/RuleSetEditorPage';
import { mockApi } from './helpers';

const DOCUMENT = `{
  "schema": { "type": "object" },
  "rules": [
    {
      "id": "id.format",
      "severity": "error",
      "type": "pattern",
      "field": "/id",
      "pattern": "("
    }
  ]
}`;

test('the editor shows the server check errors at their pointer and line, and saves with the name field', async () => {
  let saves = 0;
  const api = mockApi({
    'POST /api/v1/rulesets/check': (request) => {
      const document = (request.body as { document: { rules?: { pattern?: string }[] } }).document;
      return document.rules?.[0]?.pattern === '('
        ? { body: { valid: false, errors: [{ pointer: '/rules/0/pattern', message: 'invalid RE2 pattern: missing closing )' }] } }
        : { body: { valid: true } };
    },
    'POST /api/v1/rulesets': (request) => {
      saves += 1;
      if (saves === 1) {
        return {
          status: 422,
          body: {
            error: 'rule_set_invalid',
            message: 'the rule set has 1 mistake',
            details: [{ pointer: '/rules/0/field', message: 'field must be a JSON pointer' }],
          },
        };
      }
      return { status: 201, body: { name: (request.body as { name: string }).name, version: 1, document: request.body, createdAt: 1 } };
    },
  });

  render(<RuleSetEditorPage name={null} />);
  fireEvent.change(screen.getByLabelText('Rule set name'), { target: { value: 'orders' } });
  fireEvent.change(screen.getByLabelText('Rule set document (JSON)'), { target: { value: DOCUMENT } });

  const problem = await screen.findByTestId('ruleset-error', {}, { timeout: 3000 });
  expect(problem.getAttribute('data-pointer')).toBe('/rules/0/pattern');
  expect(within(problem).getByTestId('ruleset-error-pointer').textContent).toBe('/rules/0/pattern');
  expect(within(problem).getByTestId('ruleset-error-message').textContent).toBe('invalid RE2 pattern: missing closing )');
  expect(problem.textContent).toContain('Line 9');
  expect(screen.getByLabelText('Rule set document (JSON)').getAttribute('aria-invalid')).toBe('true');
  // The check sends the document with the name from the field.
  expect(api.to('POST', '/api/v1/rulesets/check').at(-1)?.body).toMatchObject({ document: { name: 'orders' } });

  // The server refuses the save: its details land in the same list, at their line.
  fireEvent.click(screen.getByRole('button', { name: 'Save' }));
  expect((await screen.findByRole('alert')).textContent).toContain('the rule set has 1 mistake');
  await waitFor(() => expect(screen.getByTestId('ruleset-error').getAttribute('data-pointer')).toBe('/rules/0/field'));
  expect(screen.getByTestId('ruleset-error').textContent).toContain('Line 8');

  fireEvent.click(screen.getByRole('button', { name: 'Save' }));
  await waitFor(() => expect(window.location.hash).toBe('#/rulesets/orders?saved=1'));
  expect(api.to('POST', '/api/v1/rulesets').at(-1)?.body).toMatchObject({ name: 'orders', rules: [{ id: 'id.format' }] });
});

test('a syntax mistake is shown without asking the server', async () => {
  const api = mockApi({});
  render(<RuleSetEditorPage name={null} />);
  fireEvent.change(screen.getByLabelText('Rule set document (JSON)'), { target: { value: '{\n  "rules": [\n    1,\n  ]\n}' } });
  const problem = await screen.findByTestId('ruleset-error', {}, { timeout: 3000 });
  expect(problem.textContent).toContain('Line 4');
  expect(problem.textContent).toContain('not valid JSON');
  fireEvent.click(screen.getByRole('button', { name: 'Save' }));
  expect(api.requests.filter((request) => request.method === 'POST')).toEqual([]);
});

test('an existing rule set opens without its name and version in the text', async () => {
  mockApi({
    'GET /api/v1/rulesets/orders': { body: { name: 'orders', version: 3, document: { name: 'orders', version: 3, rules: [] }, createdAt: 1 } },
    'POST /api/v1/rulesets/check': { body: { valid: true } },
  });
  render(<RuleSetEditorPage name="orders" savedVersion={3} />);
  expect((await screen.findByTestId('save-result')).textContent).toContain('Saved orders version 3');
  expect((screen.getByLabelText('Rule set name') as HTMLInputElement).value).toBe('orders');
  expect(JSON.parse((screen.getByLabelText('Rule set document (JSON)') as HTMLTextAreaElement).value)).toEqual({ rules: [] });
  expect((await screen.findByTestId('check-state', {}, { timeout: 3000 })).textContent).toMatch(/Checked as you type|No problems/);
});
