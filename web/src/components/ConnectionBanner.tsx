import { useEffect, useState } from "preact/hooks";
import { onConnection, type ConnectionState } from "../api";

/** Shown while the live connection is lost; the client reconnects on its own and the banner goes. */
export function ConnectionBanner() {
  const [state, setState] = useState<ConnectionState>("connecting");
  useEffect(() => onConnection((s) => setState(s)), []);
  if (state !== "lost") return null;
  return (
    <div class="banner" role="status" aria-live="polite">
      The live connection to the Baton server was lost. Reconnecting…
    </div>
  );
}
