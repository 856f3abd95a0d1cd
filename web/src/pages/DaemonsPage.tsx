/*
 * The owner's daemons: name, load (active tasks of max), labels (sql/000026: a step with an agent
 * runs only on a daemon with that label; `baton daemon run --label`), last heartbeat, and Revoke. Refetched after each action and every 10 s (there
 * is no daemon event feed for owners).
 */
import { useEffect, useState } from "preact/hooks";
import { gql } from "../api";
import { ActionButton } from "../components/ActionButton";
import { ErrorMessage } from "../components/ErrorMessage";
import { StatusBadge } from "../components/StatusBadge";
import { shortId, when } from "../format";

type Daemon = {
  rowId: string;
  name: string;
  hostname: string | null;
  status: string;
  maxTasks: number;
  activeTaskCount: number;
  lastHeartbeatAt: string | null;
  revokedAt: string | null;
  labels: (string | null)[];
};

const QUERY = "query DashboardDaemons { daemons(orderBy: CREATED_AT_ASC) { nodes { rowId name hostname status maxTasks activeTaskCount lastHeartbeatAt revokedAt labels } } }";
const REVOKE = "mutation DashboardRevoke($d: UUID!) { revokeDaemon(input: { daemonId: $d }) { result { rowId revokedAt } } }";
const REFRESH_MS = 10_000;

function Labels(props: { labels: (string | null)[] }) {
  const list = props.labels.filter((l): l is string => Boolean(l));
  if (list.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="labels" aria-label="Labels">
      {list.map((l) => (
        <li key={l} class="label">
          {l}
        </li>
      ))}
    </ul>
  );
}

export function DaemonsPage() {
  const [daemons, setDaemons] = useState<Daemon[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [actionError, setActionError] = useState<string | undefined>(undefined);

  const load = async () => {
    try {
      setDaemons((await gql<{ daemons: { nodes: Daemon[] } }>(QUERY)).daemons.nodes);
      setError(undefined);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  return (
    <section aria-labelledby="daemons-title">
      <h1 id="daemons-title">Daemons</h1>
      <ErrorMessage message={error} />
      <ErrorMessage message={actionError} />
      {!daemons ? (
        <p class="muted">Loading…</p>
      ) : daemons.length === 0 ? (
        <p class="muted">
          No daemons. Start one with <code>baton daemon run</code>.
        </p>
      ) : (
        <table class="list">
          <caption class="visually-hidden">Your daemons</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Load</th>
              <th scope="col">Labels</th>
              <th scope="col">Last heartbeat</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {daemons.map((d) => (
              <tr key={d.rowId} data-daemon={d.name}>
                <td>
                  {d.name} <span class="muted">{d.hostname ?? ""} {shortId(d.rowId)}</span>
                </td>
                <td>
                  <StatusBadge status={d.revokedAt ? "revoked" : d.status} />
                </td>
                <td>
                  {d.activeTaskCount}/{d.maxTasks}
                </td>
                <td data-testid="daemon-labels">
                  <Labels labels={d.labels} />
                </td>
                <td>{when(d.lastHeartbeatAt)}</td>
                <td>
                  {d.revokedAt ? null : (
                    <ActionButton
                      class="danger"
                      onError={setActionError}
                      onClick={async () => {
                        if (!confirm(`Revoke daemon ${d.name}? Its tasks are retried elsewhere and it never connects again.`)) return;
                        await gql(REVOKE, { d: d.rowId });
                        await load();
                      }}
                    >
                      Revoke <span class="visually-hidden">{d.name}</span>
                    </ActionButton>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
