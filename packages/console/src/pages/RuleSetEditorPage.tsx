import { type FormEvent, type ReactNode, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api/client';
import { api } from '../api/endpoints';
import type { StoredRuleSet } from '../api/types';
import { ErrorMessage, Loading } from '../components/Feedback';
import { useResource } from '../hooks/use-resource';
import { annotateErrors, type EditorAnnotation } from '../lib/json-locations';
import { annotatedLines, documentFromEditor, NEW_RULE_SET_TEMPLATE, offsetOfLine } from '../lib/rule-set-editor';
import { Link, navigate, pathOf } from '../router';

/** How long typing must pause before the text is checked by the server. */
export const CHECK_DELAY_MS = 600;

type CheckState = 'idle' | 'checking' | 'valid' | 'invalid' | 'failed';

interface EditorProps {
  readonly initialName: string;
  readonly initialText: string;
}

/** After a save the page shows the stored version, named in the address so a reload keeps the message. */
function savedLocation(stored: StoredRuleSet): string {
  return `${pathOf('rulesets', stored.name)}?saved=${stored.version}`;
}

function Editor({ initialName, initialText }: EditorProps) {
  const [name, setName] = useState(initialName);
  const [text, setText] = useState(initialText);
  const [annotations, setAnnotations] = useState<readonly EditorAnnotation[]>([]);
  const [checkState, setCheckState] = useState<CheckState>('idle');
  const [saveError, setSaveError] = useState<Error | null>(null);
  const [saving, setSaving] = useState(false);
  const textareaRef = useRef<HTMLTextAreaElement>(null);
  const gutterRef = useRef<HTMLDivElement>(null);

  // Check the text with the server once typing pauses; a newer edit cancels the older check.
  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(async () => {
      const prepared = documentFromEditor(text, name);
      if ('annotation' in prepared) {
        setAnnotations([prepared.annotation]);
        setCheckState('invalid');
        return;
      }
      setCheckState('checking');
      try {
        const result = await api.checkRuleSet(prepared.document, controller.signal);
        if (controller.signal.aborted) return;
        setAnnotations(result.valid ? [] : annotateErrors(text, result.errors));
        setCheckState(result.valid ? 'valid' : 'invalid');
      } catch (error) {
        if (controller.signal.aborted) return;
        setCheckState('failed');
        setAnnotations(error instanceof ApiError && error.details.length > 0 ? annotateErrors(text, error.details) : []);
      }
    }, CHECK_DELAY_MS);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [text, name]);

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setSaveError(null);
    const prepared = documentFromEditor(text, name);
    if ('annotation' in prepared) {
      setAnnotations([prepared.annotation]);
      setCheckState('invalid');
      return;
    }
    setSaving(true);
    try {
      const stored = await api.saveRuleSet(prepared.document);
      navigate(savedLocation(stored));
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      setSaveError(failure);
      if (failure instanceof ApiError && failure.details.length > 0) {
        setAnnotations(annotateErrors(text, failure.details));
        setCheckState('invalid');
      }
    } finally {
      setSaving(false);
    }
  };

  const goToLine = (line: number | null) => {
    const textarea = textareaRef.current;
    if (!textarea || line === null) return;
    const offset = offsetOfLine(text, line);
    textarea.focus();
    textarea.setSelectionRange(offset, offset);
    // Scroll the line into view: the textarea has a fixed line height (see styles.css).
    const lineHeight = Number.parseFloat(getComputedStyle(textarea).lineHeight) || 20;
    textarea.scrollTop = Math.max(0, (line - 3) * lineHeight);
  };

  const lineCount = text.split('\n').length;
  const marked = annotatedLines(annotations);
  const hasProblems = annotations.length > 0;

  return (
    <form className="editor-form" onSubmit={save} aria-labelledby="editor-title" noValidate>
      <div className="field">
        <label htmlFor="ruleset-name">Rule set name</label>
        <input
          id="ruleset-name"
          name="name"
          value={name}
          onChange={(event) => setName(event.target.value)}
          required
          autoComplete="off"
          spellCheck={false}
          aria-describedby="ruleset-name-help"
        />
        <p id="ruleset-name-help" className="help">
          Letters, digits, dots and dashes. Saving an existing name adds a version.
        </p>
      </div>
      <div className="editor-layout">
        <div className="field editor-field">
          <label htmlFor="ruleset-document">Rule set document (JSON)</label>
          <div className={`code-editor${hasProblems ? ' has-problems' : ''}`}>
            <div className="gutter" ref={gutterRef} aria-hidden="true">
              {Array.from({ length: lineCount }, (_, index) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: a gutter line is its line number
                <div key={index} className={marked.has(index + 1) ? 'gutter-mark' : undefined}>
                  {index + 1}
                </div>
              ))}
            </div>
            <textarea
              id="ruleset-document"
              ref={textareaRef}
              value={text}
              onChange={(event) => setText(event.target.value)}
              onScroll={(event) => {
                if (gutterRef.current) gutterRef.current.scrollTop = event.currentTarget.scrollTop;
              }}
              spellCheck={false}
              autoCapitalize="off"
              autoComplete="off"
              wrap="off"
              rows={24}
              aria-invalid={hasProblems}
              aria-describedby="ruleset-problems"
              data-testid="ruleset-editor"
            />
          </div>
        </div>
        <aside className="problems" id="ruleset-problems" aria-labelledby="problems-title" data-testid="ruleset-problems">
          <h2 id="problems-title">Problems</h2>
          <p className="check-state" role="status" data-testid="check-state">
            {checkState === 'checking' && 'Checking…'}
            {checkState === 'valid' && 'No problems found.'}
            {checkState === 'invalid' && `${annotations.length} problem${annotations.length === 1 ? '' : 's'}`}
            {checkState === 'failed' && 'Could not check the rule set with the server.'}
            {checkState === 'idle' && 'Checked as you type.'}
          </p>
          {hasProblems ? (
            <ul className="problem-list">
              {annotations.map((annotation, index) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: one pointer can carry the same message twice; the list is never reordered
                <li key={`${annotation.pointer}:${annotation.message}:${index}`} data-testid="ruleset-error" data-pointer={annotation.pointer}>
                  <button type="button" className="problem" onClick={() => goToLine(annotation.line)} disabled={annotation.line === null}>
                    <span className="problem-where">
                      {annotation.line !== null ? `Line ${annotation.line}` : 'Not in the text'}
                      {' · '}
                      <code data-testid="ruleset-error-pointer">{annotation.pointer || '/'}</code>
                      {!annotation.exact && annotation.line !== null ? <span className="muted"> (missing; shown at its parent)</span> : null}
                    </span>
                    <span className="problem-message" data-testid="ruleset-error-message">
                      {annotation.message}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
        </aside>
      </div>
      {saveError ? <ErrorMessage error={saveError} title="Not saved" /> : null}
      <div className="actions">
        <button type="submit" className="primary" disabled={saving}>
          {saving ? 'Saving…' : 'Save'}
        </button>
        <Link to="/rulesets">Back to the list</Link>
      </div>
    </form>
  );
}

/** The text to edit for a stored version: without `name` (the field above) and `version` (a save makes the next one). */
export function editableText(document: unknown): string {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return `${JSON.stringify(document, null, 2)}\n`;
  const { name: _name, version: _version, ...rest } = document as Record<string, unknown>;
  return `${JSON.stringify(rest, null, 2)}\n`;
}

export function RuleSetEditorPage({ name, savedVersion = null }: { readonly name: string | null; readonly savedVersion?: number | null }) {
  const loaded = useResource((signal) => (name === null ? Promise.resolve(null) : api.ruleSet(name, signal)), name ?? '', savedVersion ?? 0);

  let body: ReactNode;
  if (name === null) body = <Editor key="new" initialName="" initialText={NEW_RULE_SET_TEMPLATE} />;
  else if (loaded.error) body = <ErrorMessage error={loaded.error} title={`Could not load rule set ${name}`} />;
  else if (!loaded.data) body = <Loading what={`rule set ${name}`} />;
  else body = <Editor key={`${name}@${loaded.data.version}`} initialName={loaded.data.name} initialText={editableText(loaded.data.document)} />;
  const justSaved = loaded.data && savedVersion !== null && loaded.data.version === savedVersion ? loaded.data : null;

  return (
    <section aria-labelledby="editor-title">
      <p className="breadcrumb">
        <Link to="/rulesets">Rule sets</Link> /
      </p>
      <div className="page-head">
        <h1 id="editor-title">{name === null ? 'New rule set' : name}</h1>
        {loaded.data ? <p className="muted">Editing version {loaded.data.version}; saving creates the next version.</p> : null}
      </div>
      {justSaved ? (
        <p className="success" role="status" data-testid="save-result">
          Saved {justSaved.name} version {justSaved.version}. <Link to={`/jobs?ruleSet=${encodeURIComponent(justSaved.name)}`}>Upload records to check</Link>
        </p>
      ) : null}
      {body}
    </section>
  );
}
