/*
 * GraphQL over HTTP for the bench's fake daemons: one keep-alive connection pool per client (a real
 * daemon is its own process with its own connections), node:http rather than fetch so that the
 * bench's own CPU per request stays small beside the server's.
 */
import http from "node:http";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export class ApiClient {
  // Idle sockets are dropped after 4 s, before the server's 5 s keep-alive timeout closes them under a request.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4, timeout: 4000 });
  private readonly url: URL;

  constructor(
    url: string,
    readonly token: string,
  ) {
    this.url = new URL(url);
  }

  request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    return this.send<T>(JSON.stringify({ query, variables }), true);
  }

  private send<T>(body: string, mayRetry: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          agent: this.agent,
          host: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname,
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${this.token}`, "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            let parsed: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
            } catch {
              return reject(new ApiError(`HTTP ${res.statusCode} without JSON`, undefined));
            }
            const e = parsed.errors?.[0];
            if (e) return reject(new ApiError(e.message, e.extensions?.code));
            if (!parsed.data) return reject(new ApiError(`HTTP ${res.statusCode} with no data`, undefined));
            resolve(parsed.data);
          });
          res.on("error", reject);
        },
      );
      // A kept-alive socket the server closed as the request left: it never reached the server (Node's documented retry case).
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (mayRetry && req.reusedSocket && err.code === "ECONNRESET") this.send<T>(body, false).then(resolve, reject);
        else reject(err);
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
