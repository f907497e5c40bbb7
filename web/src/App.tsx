import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, clearToken, closeWorkspaceStream, getToken, onAuthFailure, setToken, takeTokenFromHash } from './api';
import { useRoute } from './hooks';
import { Code, ErrorBox } from './components/common';
import { RunsPage } from './pages/Runs';
import { RunPage } from './pages/Run';
import { ComparePage } from './pages/Compare';
import { SweepPage } from './pages/Sweep';
import { ComputesPage } from './pages/Computes';
import { ComputePage } from './pages/Compute';
import { ExperimentsPage } from './pages/Experiments';
import { DatastorePage, DatastoresPage } from './pages/Datastores';
import { DatasetPage, DatasetsPage, DatasetVersionPage } from './pages/Datasets';
import { ModelPage, ModelsPage, ModelVersionPage } from './pages/Models';

takeTokenFromHash();
if (!location.hash || location.hash === '#' || location.hash === '#/') {
  history.replaceState(null, '', location.pathname + location.search + '#/runs');
}

export function App() {
  const [authed, setAuthed] = useState(() => !!getToken());
  const [authError, setAuthError] = useState('');
  useEffect(
    () =>
      onAuthFailure((err) => {
        closeWorkspaceStream();
        // Keep the first message that came from the server (later ones may be aborted requests).
        setAuthError((prev) => (prev && !err.body ? prev : getToken() ? err.message : ''));
        setAuthed(false);
      }),
    [],
  );
  useEffect(() => {
    // "#token=…" pasted into an open tab.
    const on = () => {
      if (takeTokenFromHash()) {
        setAuthError('');
        setAuthed(true);
      }
    };
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  if (!authed) {
    return (
      <SignIn
        error={authError}
        onToken={(t) => {
          setToken(t);
          setAuthError('');
          setAuthed(true);
        }}
      />
    );
  }
  return <Shell onSignOut={() => { clearToken(); closeWorkspaceStream(); setAuthed(false); }} />;
}

function SignIn({ error, onToken }: { error: string; onToken: (t: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <div class="signin-wrap">
      <form
        class="signin"
        data-testid="signin"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim()) onToken(value.trim());
        }}
      >
        <div class="brand big">
          <span class="logo" aria-hidden="true" /> Ferry Studio
        </div>
        <p>
          Paste the workspace token (the file <Code>token</Code> in the workspace home), or open the link printed by{' '}
          <Code>ferry studio</Code>.
        </p>
        {error && <ErrorBox message={error} />}
        <input
          type="password"
          data-testid="signin-token"
          name="token"
          placeholder="workspace token"
          autocomplete="off"
          value={value}
          onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          autofocus
        />
        <button class="btn primary" type="submit" data-testid="signin-submit" disabled={!value.trim()}>
          Sign in
        </button>
      </form>
    </div>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const [ws, setWs] = useState('');
  useEffect(() => {
    api
      .health()
      .then((h) => setWs([h.workspace || h.name || location.host, h.version ? `v${h.version}` : ''].filter(Boolean).join(' · ')))
      .catch(() => setWs(location.host));
  }, []);
  const section =
    route.page === 'computes' || route.page === 'compute'
      ? 'compute'
      : route.page === 'experiments' || (route.page === 'runs' && route.experiment)
        ? 'experiments'
        : route.page === 'datastores' || route.page === 'datastore'
          ? 'datastores'
          : route.page === 'datasets' || route.page === 'dataset' || route.page === 'dataset-version'
            ? 'datasets'
            : route.page === 'models' || route.page === 'model' || route.page === 'model-version'
              ? 'models'
              : 'runs';
  let page: JSX.Element;
  switch (route.page) {
    case 'runs':
      page = <RunsPage experiment={route.experiment} query={route.query} />;
      break;
    case 'run':
      page = <RunPage key={route.id} id={route.id} query={route.query} />;
      break;
    case 'compare':
      page = <ComparePage query={route.query} />;
      break;
    case 'sweep':
      page = <SweepPage key={route.id} id={route.id} />;
      break;
    case 'computes':
      page = <ComputesPage />;
      break;
    case 'compute':
      page = <ComputePage key={route.name} name={route.name} />;
      break;
    case 'experiments':
      page = <ExperimentsPage />;
      break;
    case 'datastores':
      page = <DatastoresPage />;
      break;
    case 'datastore':
      page = <DatastorePage key={route.name} name={route.name} query={route.query} />;
      break;
    case 'datasets':
      page = <DatasetsPage query={route.query} />;
      break;
    case 'dataset':
      page = <DatasetPage key={route.name} name={route.name} />;
      break;
    case 'dataset-version':
      page = <DatasetVersionPage key={`${route.name}:${route.version}`} name={route.name} version={route.version} />;
      break;
    case 'models':
      page = <ModelsPage />;
      break;
    case 'model':
      page = <ModelPage key={route.name} name={route.name} />;
      break;
    case 'model-version':
      page = <ModelVersionPage key={`${route.name}:${route.version}`} name={route.name} version={route.version} />;
      break;
    case 'notfound':
      page = <ErrorBox message={`There is no page '${route.path}'. Use the navigation on the left.`} />;
  }
  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href="#/runs">
          <span class="logo" aria-hidden="true" /> Ferry Studio
        </a>
        <span class="ws" title="workspace">{ws}</span>
        <span class="spacer" />
        <button class="btn small ghost" onClick={onSignOut} title="Forget the token in this browser">
          Sign out
        </button>
      </header>
      <nav class="sidenav">
        <a href="#/runs" class={section === 'runs' ? 'active' : ''} data-testid="nav-runs">
          Runs
        </a>
        <a href="#/experiments" class={section === 'experiments' ? 'active' : ''} data-testid="nav-experiments">
          Experiments
        </a>
        <a href="#/compute" class={section === 'compute' ? 'active' : ''} data-testid="nav-compute">
          Compute
        </a>
        <a href="#/datastores" class={section === 'datastores' ? 'active' : ''} data-testid="nav-datastores">
          Datastores
        </a>
        <a href="#/datasets" class={section === 'datasets' ? 'active' : ''} data-testid="nav-datasets">
          Datasets
        </a>
        <a href="#/models" class={section === 'models' ? 'active' : ''} data-testid="nav-models">
          Models
        </a>
      </nav>
      <main class="main">{page}</main>
    </div>
  );
}
