// The app shell: sign-in when the backend needs a token we do not have, otherwise the sidebar,
// the top bar, the config banner and the current screen, all fed by one feed subscription.
import type { Backend } from "./backend/backend";
import { BackendProvider, useBackend, useSession } from "./backend/context";
import { ConfigBanner } from "./components/ConfigBanner";
import { Sidebar } from "./components/Sidebar";
import { SignIn } from "./components/SignIn";
import { StartupBanner } from "./components/StartupBanner";
import { TopBar } from "./components/TopBar";
import { FeedProvider } from "./feed/FeedProvider";
import { NodeInfoProvider } from "./node/NodeInfoProvider";
import { useHashRoute, type RouteId } from "./routes";
import { ComingNext } from "./screens/ComingNext";
import { Health } from "./screens/Health";
import { Overview } from "./screens/Overview";
import { Settings } from "./screens/Settings";

function Screen({ route }: { route: RouteId }) {
  switch (route) {
    case "overview":
      return <Overview />;
    case "health":
      return <Health />;
    case "settings":
      return <Settings />;
    default:
      return <ComingNext id={route} />;
  }
}

function Dashboard() {
  const route = useHashRoute();
  return (
    <FeedProvider>
      <NodeInfoProvider>
        <div className="shell">
          <Sidebar current={route} />
          <div className="main">
            <TopBar route={route} />
            <StartupBanner />
            <ConfigBanner />
            <main className="content">
              <Screen route={route} />
            </main>
          </div>
        </div>
      </NodeInfoProvider>
    </FeedProvider>
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
