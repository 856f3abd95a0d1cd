import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";

/** A button that runs an action once at a time and reports its failure with the API's message. */
export function ActionButton(props: { onClick: () => Promise<unknown>; onError: (message: string | undefined) => void; children: ComponentChildren; disabled?: boolean; class?: string }) {
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    props.onError(undefined);
    try {
      await props.onClick();
    } catch (err) {
      props.onError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <button type="button" class={props.class} disabled={busy || props.disabled} aria-busy={busy} onClick={run}>
      {props.children}
    </button>
  );
}
