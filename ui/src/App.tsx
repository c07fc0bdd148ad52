// The app shell: sign-in when the backend needs a token we do not have, otherwise the
// providers every screen relies on (query cache, typed client, toasts, confirmations, the
// router on the hash, the one feed subscription, keyboard shortcuts) around the sidebar, the
// top bar, the banners and the current screen.
import { QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";
import { Link, Redirect, Route, Router, Switch } from "wouter";
import { useHashLocation } from "wouter/use-hash-location";
import { ApiProvider } from "./api/context";
import type { Backend } from "./backend/backend";
import { BackendProvider, useBackend, useSession } from "./backend/context";
import { ConfigBanner } from "./components/ConfigBanner";
import { ConfirmProvider } from "./components/ConfirmDialog";
import { Panel } from "./components/Panel";
import { Sidebar } from "./components/Sidebar";
import { SignIn } from "./components/SignIn";
import { StartupBanner } from "./components/StartupBanner";
import { ToastProvider, useToasts } from "./components/Toasts";
import { TopBar } from "./components/TopBar";
import { createQueryClient } from "./data/queryClient";
import { FeedProvider } from "./feed/FeedProvider";
import { pathFor, useCurrentRoute } from "./routes";
import { ComingNext, PLANNED } from "./screens/ComingNext";
import { Approvals } from "./screens/Approvals";
import { Calls } from "./screens/Calls";
import { Costs } from "./screens/Costs";
import { Forecasts } from "./screens/Forecasts";
import { Tasks } from "./screens/Tasks";
import { Health } from "./screens/Health";
import { Overview } from "./screens/Overview";
import { Reports } from "./screens/Reports";
import { Settings } from "./screens/Settings";
import { Shortcuts } from "./shortcuts/Shortcuts";

function NotFound() {
  return (
    <div className="screen" data-testid="screen-not-found">
      <Panel title="Nothing here">
        <p className="muted">
          This address names no screen. <Link href={pathFor("overview")}>Go to the overview</Link>.
        </p>
      </Panel>
    </div>
  );
}

function Screens() {
  return (
    <Switch>
      <Route path="/">
        <Redirect to={pathFor("overview")} replace />
      </Route>
      <Route path="/overview" component={Overview} />
      <Route path="/agents" nest>
        <Tasks />
      </Route>
      <Route path="/approvals" nest>
        <Approvals />
      </Route>
      <Route path="/calls" nest>
        <Calls />
      </Route>
      <Route path="/costs" component={Costs} />
      <Route path="/forecasts" nest>
        <Forecasts />
      </Route>
      <Route path="/reports" component={Reports} />
      <Route path="/health" nest>
        <Health />
      </Route>
      <Route path="/settings" component={Settings} />
      {PLANNED.map((id) => (
        <Route key={id} path={pathFor(id)}>
          <ComingNext id={id} />
        </Route>
      ))}
      <Route component={NotFound} />
    </Switch>
  );
}

function Shell() {
  const route = useCurrentRoute();
  return (
    <div className="shell">
      <Sidebar current={route} />
      <div className="main">
        <TopBar route={route} />
        <StartupBanner />
        <ConfigBanner />
        <main className="content">
          <Screens />
        </main>
      </div>
      <Shortcuts />
    </div>
  );
}

/** Everything that holds the node's data; unmounted (cache dropped) on sign-out. */
function Dashboard() {
  return (
    <ToastProvider>
      <DataLayer />
    </ToastProvider>
  );
}

function DataLayer() {
  const toasts = useToasts();
  // Failed mutations become toasts with the node's code, unless a screen handles them.
  const [queryClient] = useState(() => createQueryClient((err) => toasts.error(err, "The action failed")));
  return (
    <QueryClientProvider client={queryClient}>
      <ApiProvider>
        <ConfirmProvider>
          <Router hook={useHashLocation}>
            <FeedProvider>
              <Shell />
            </FeedProvider>
          </Router>
        </ConfirmProvider>
      </ApiProvider>
    </QueryClientProvider>
  );
}

function Gate() {
  const { session } = useBackend();
  const state = useSession();
  if (session && !state.signedIn) return <SignIn session={session} notice={state.notice} />;
  return <Dashboard />;
}

export function App({ backend }: { backend: Backend }) {
  return (
    <BackendProvider backend={backend}>
      <Gate />
    </BackendProvider>
  );
}
