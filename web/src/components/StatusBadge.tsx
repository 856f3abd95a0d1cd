/** A status as text and colour (the colour is never the only signal: the word is always there). */
export function StatusBadge(props: { status: string }) {
  return <span class={`badge status-${props.status}`}>{props.status}</span>;
}
