/*
 * /signin#code=...: the code is read from the fragment (which the browser never sent to the server),
 * removed from the address bar and history at once, and POSTed to /auth/signin, which sets the
 * session cookie. A used or expired link shows the server's message.
 */
import { useEffect, useState } from "preact/hooks";
import { authRequest } from "../api";
import { navigate } from "../router";

export function SigninPage(props: { onSignedIn: () => void }) {
  const [message, setMessage] = useState<string>("Signing in…");
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const code = new URLSearchParams(location.hash.slice(1)).get("code");
    history.replaceState(null, "", "/signin"); // the code leaves the address bar and history
    if (!code) {
      setFailed(true);
      setMessage("This page needs the link that `baton server` printed (or `baton web link`): /signin#code=…");
      return;
    }
    authRequest("/auth/signin", { method: "POST", body: { code } })
      .then(() => {
        props.onSignedIn();
        navigate("/", true);
      })
      .catch((err: unknown) => {
        setFailed(true);
        setMessage(err instanceof Error ? err.message : String(err));
      });
  }, []);
  return (
    <section aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
      <p class={failed ? "error" : "muted"} role={failed ? "alert" : "status"} data-testid="signin-message">
        {message}
      </p>
    </section>
  );
}
