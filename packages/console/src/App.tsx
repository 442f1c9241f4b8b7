import { type ReactNode, useSyncExternalStore } from 'react';
import { LiveProvider, useLive } from './api/live';
import type { EventStreamConnector } from './api/sse';
import { authStore } from './api/token';
import { TokenDialog } from './components/TokenDialog';
import { AutoscalerPage } from './pages/AutoscalerPage';
import { DlqPage } from './pages/DlqPage';
import { GroupPage } from './pages/GroupPage';
import { JobPage } from './pages/JobPage';
import { JobsPage } from './pages/JobsPage';
import { OverviewPage } from './pages/OverviewPage';
import { ResultPage } from './pages/ResultPage';
import { RuleSetEditorPage } from './pages/RuleSetEditorPage';
import { RuleSetsPage } from './pages/RuleSetsPage';
import { ShareGroupPage } from './pages/ShareGroupPage';
import { Link, matchPath, useLocation } from './router';

interface Route {
  readonly pattern: string;
  readonly render: (params: Record<string, string>, search: URLSearchParams) => ReactNode;
}

const ROUTES: readonly Route[] = [
  { pattern: '/', render: () => <OverviewPage /> },
  { pattern: '/groups/:group', render: (params) => <GroupPage group={params.group ?? ''} /> },
  { pattern: '/sharegroups/:group', render: (params) => <ShareGroupPage group={params.group ?? ''} /> },
  { pattern: '/autoscaler', render: () => <AutoscalerPage /> },
  { pattern: '/rulesets', render: () => <RuleSetsPage /> },
  { pattern: '/rulesets/new', render: () => <RuleSetEditorPage name={null} /> },
  {
    pattern: '/rulesets/:name',
    render: (params, search) => <RuleSetEditorPage name={params.name ?? ''} savedVersion={search.has('saved') ? Number(search.get('saved')) : null} />,
  },
  { pattern: '/jobs', render: (_params, search) => <JobsPage ruleSet={search.get('ruleSet')} /> },
  { pattern: '/jobs/:id', render: (params) => <JobPage jobId={params.id ?? ''} /> },
  { pattern: '/jobs/:id/results/:record', render: (params) => <ResultPage jobId={params.id ?? ''} recordNumber={Number(params.record)} /> },
  { pattern: '/dlq', render: (_params, search) => <DlqPage jobId={search.get('jobId')} /> },
];

function CurrentPage() {
  const { path, search } = useLocation();
  for (const route of ROUTES) {
    const params = matchPath(route.pattern, path);
    if (params) return <>{route.render(params, new URLSearchParams(search))}</>;
  }
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. <Link to="/">Back to the overview</Link>.
      </p>
    </section>
  );
}

const CONNECTION_TEXT = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  unauthorized: 'Token needed',
} as const;

function ConnectionIndicator() {
  const { connection } = useLive();
  return (
    <output className={`connection connection-${connection}`} data-testid="connection" aria-live="polite">
      <span className="connection-dot" aria-hidden="true" />
      {CONNECTION_TEXT[connection]}
    </output>
  );
}

function TokenButton() {
  const auth = useSyncExternalStore(authStore.subscribe, authStore.get);
  if (!auth.token) return null;
  return (
    <button type="button" className="link-button" onClick={() => authStore.setToken(null)}>
      Forget token
    </button>
  );
}

export function App({ connect }: { readonly connect?: EventStreamConnector }) {
  return (
    <LiveProvider connect={connect}>
      {/* A button, not an in-page link: the hash belongs to the router. */}
      <button type="button" className="skip-link" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header className="topbar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            ◔
          </span>{' '}
          lagscale
        </div>
        <nav aria-label="Main">
          <ul className="nav-list">
            <li>
              <Link to="/" nav>
                Overview
              </Link>
            </li>
            <li>
              <Link to="/autoscaler" nav>
                Autoscaler
              </Link>
            </li>
            <li>
              <Link to="/rulesets" nav>
                Rule sets
              </Link>
            </li>
            <li>
              <Link to="/jobs" nav>
                Jobs
              </Link>
            </li>
            <li>
              <Link to="/dlq" nav>
                Dead letters
              </Link>
            </li>
          </ul>
        </nav>
        <div className="topbar-end">
          <ConnectionIndicator />
          <TokenButton />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <CurrentPage />
      </main>
      <TokenDialog />
    </LiveProvider>
  );
}
