/*
 * The shell: who is signed in (GET /auth/session), the navigation, the connection banner, and the
 * page the address names. Not signed in: how to get a sign-in link.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, authRequest, wsClient } from "./api";
import { ConnectionBanner } from "./components/ConnectionBanner";
import { ErrorMessage } from "./components/ErrorMessage";
import { Link } from "./components/Link";
import { DaemonsPage } from "./pages/DaemonsPage";
import { DirectivePage } from "./pages/DirectivePage";
import { DirectivesPage } from "./pages/DirectivesPage";
import { NewDirectivePage } from "./pages/NewDirectivePage";
import { SigninPage } from "./pages/SigninPage";
import { navigate, useRoute, type Route } from "./router";

type Session = { ownerId: string; name: string; expiresAt: string };

function Page(props: { route: Route }) {
  const r = props.route;
  switch (r.page) {
    case "directives":
      return <DirectivesPage />;
    case "new-directive":
      return <NewDirectivePage />;
    case "directive":
      return <DirectivePage id={r.id} />;
    case "daemons":
      return <DaemonsPage />;
    case "signin":
      return null;
    case "not-found":
      return (
        <section>
          <h1>Not found</h1>
          <p>There is no page {r.path}.</p>
          <Link href="/">Directives</Link>
        </section>
      );
  }
}

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [why, setWhy] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);

  const check = () =>
    authRequest<Session>("/auth/session", { method: "GET" })
      .then((s) => {
        setSession(s);
        wsClient(); // the live connection, for every page
      })
      .catch((err: unknown) => {
        setSession(null);
        setWhy(err instanceof ApiError ? err.message : String(err));
      });

  useEffect(() => {
    if (route.page !== "signin") void check();
  }, []);

  if (route.page === "signin") return <SigninPage onSignedIn={() => void check()} />;
  if (session === undefined) return <p class="muted">Loading…</p>;
  if (session === null) {
    return (
      <main class="signed-out">
        <h1>Baton</h1>
        <p role="alert" data-testid="signed-out">
          {why}
        </p>
        <p>
          <code>baton server</code> prints a one-time sign-in link when it starts (or writes it to <code>signin-link</code> in its data directory); <code>baton web link</code> prints a new one.
        </p>
      </main>
    );
  }
  const signOut = async () => {
    try {
      await authRequest("/auth/signout", { method: "POST", body: {} });
      location.assign("/");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <nav aria-label="Main">
          <Link href="/" class="brand">
            Baton
          </Link>
          <Link href="/">Directives</Link>
          <Link href="/directives/new">New directive</Link>
          <Link href="/daemons">Daemons</Link>
        </nav>
        <div class="who">
          <span data-testid="owner-name">{session.name}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <ConnectionBanner />
      <ErrorMessage message={error} />
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

export { navigate };
