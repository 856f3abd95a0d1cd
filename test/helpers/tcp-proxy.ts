/*
 * A TCP proxy a test controls, to partition a process from a server on loopback (test/faults/partition).
 * Every connection is piped to the target until `cut()`, which destroys all open connections and then,
 * for new ones, either blackholes them (accepted and held without a byte forwarded, as when packets
 * are dropped: the client's own timeouts must notice) or resets them at once. `restore()` ends the held
 * connections and forwards new ones again.
 */
import net from "node:net";

export type CutMode = "blackhole" | "reset";

export class TcpProxy {
  private readonly server: net.Server;
  private readonly open = new Set<net.Socket>();
  private readonly held = new Set<net.Socket>();
  private mode: CutMode | null = null;
  /** Connections accepted while cut (blackholed or reset): proof that the client kept trying. */
  refused = 0;
  forwarded = 0;

  private constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
    server: net.Server,
  ) {
    this.server = server;
  }

  static async start(target: { host?: string; port: number }): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const proxy = new TcpProxy({ host: target.host ?? "127.0.0.1", port: target.port }, (server.address() as net.AddressInfo).port, server);
    server.on("connection", (client) => proxy.accept(client));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.mode !== null;
  }

  private accept(client: net.Socket): void {
    client.on("error", () => undefined);
    if (this.mode === "reset") {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    if (this.mode === "blackhole") {
      this.refused++;
      this.held.add(client);
      client.pause(); // read nothing, answer nothing
      client.once("close", () => this.held.delete(client));
      return;
    }
    this.forwarded++;
    const upstream = net.connect(this.target.port, this.target.host);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.pipe(upstream).pipe(client);
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
    this.open.add(client);
    client.once("close", () => this.open.delete(client));
  }

  /** Drops every open connection and blackholes (or resets) new ones until restore(). */
  cut(mode: CutMode = "blackhole"): void {
    this.mode = mode;
    for (const s of this.open) s.resetAndDestroy();
    this.open.clear();
  }

  /** Forwards new connections again; connections held while cut are dropped (their clients retry). */
  restore(): void {
    this.mode = null;
    for (const s of this.held) s.resetAndDestroy();
    this.held.clear();
  }

  async close(): Promise<void> {
    this.cut("reset");
    this.restore();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
