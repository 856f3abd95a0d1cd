/*
 * Talking to a real `baton server` the way a hostile client would: raw TCP (for request targets,
 * headers and bodies that Node's http client refuses to send) and raw websocket frames (for frames a
 * websocket library never produces). Also a server process with a known JWT secret and options, for
 * the request-hardening tests and the fuzz suite.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { BATON_BIN, baseEnv, freePort, waitForE2E, type E2E, type Proc } from "./e2e";

export type RawReply = {
  /** The HTTP status, or undefined when the server closed the connection (or timed out) without one. */
  status?: number;
  head: string;
  body: Buffer;
  timedOut: boolean;
};

/**
 * Sends `bytes` on a new connection and reads until the server closes it (the requests say
 * `connection: close`). The socket is not half-closed at once: Node's server takes a client's FIN as
 * the client going away and drops the answer. Only when nothing has come back after `quietMs` (a body
 * shorter than its content-length, say) is it half-closed, so the server sees the end of the request.
 */
export function rawRequest(port: number, bytes: Buffer | string, timeoutMs = 5_000, quietMs = 1_500): Promise<RawReply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let timedOut = false;
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    const quiet = setTimeout(() => chunks.length === 0 && socket.end(), quietMs);
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, timeoutMs);
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => undefined); // a reset is an answer too: read what came before it
    socket.on("close", () => {
      clearTimeout(timer);
      clearTimeout(quiet);
      const all = Buffer.concat(chunks);
      const split = all.indexOf("\r\n\r\n");
      const head = (split >= 0 ? all.subarray(0, split) : all).toString("latin1");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      const body = split >= 0 ? all.subarray(split + 4) : Buffer.alloc(0);
      resolve({ status: status ? Number(status) : undefined, head, body: /^transfer-encoding: *chunked/im.test(head) ? dechunk(body) : body, timedOut });
    });
  });
}

/** A chunked body's data (as much of it as is complete). */
function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(body.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** A body of an HTTP/1.1 request, with content-length unless headers say otherwise. */
export function httpRequest(method: string, target: string, headers: [string, string][], body: Buffer | string = ""): Buffer {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const lines = [`${method} ${target} HTTP/1.1`, "host: 127.0.0.1", "connection: close", ...headers.map(([k, v]) => `${k}: ${v}`)];
  if (!headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k))) lines.push(`content-length: ${payload.length}`);
  return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), payload]);
}

/** One websocket frame as a client sends it (masked unless told otherwise). */
export function wsFrame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; mask?: boolean; rsv?: number } = {}): Buffer {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8");
  const mask = opts.mask ?? true;
  const first = ((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | (opcode & 0x0f);
  let len: Buffer;
  if (data.length < 126) len = Buffer.from([(mask ? 0x80 : 0) | data.length]);
  else if (data.length < 65536) {
    len = Buffer.alloc(3);
    len[0] = (mask ? 0x80 : 0) | 126;
    len.writeUInt16BE(data.length, 1);
  } else {
    len = Buffer.alloc(9);
    len[0] = (mask ? 0x80 : 0) | 127;
    len.writeBigUInt64BE(BigInt(data.length), 1);
  }
  if (!mask) return Buffer.concat([Buffer.from([first]), len, data]);
  const key = randomBytes(4);
  const masked = Buffer.from(data.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([Buffer.from([first]), len, key, masked]);
}

export type RawWebsocket = { socket: net.Socket; status?: number; send: (bytes: Buffer) => void; closed: Promise<Buffer> };

/**
 * A websocket handshake on a raw socket. Resolves once the server answered the handshake (101 or not);
 * `closed` resolves with everything the server sent after it, once the connection ends.
 */
export function rawWebsocket(port: number, target = "/graphql", protocol = "graphql-transport-ws", extraHeaders: [string, string][] = []): Promise<RawWebsocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const headers = [
      `GET ${target} HTTP/1.1`,
      "host: 127.0.0.1",
      "upgrade: websocket",
      "connection: Upgrade",
      `sec-websocket-key: ${randomBytes(16).toString("base64")}`,
      "sec-websocket-version: 13",
      `sec-websocket-protocol: ${protocol}`,
      ...extraHeaders.map(([k, v]) => `${k}: ${v}`),
    ];
    socket.on("connect", () => socket.write(headers.join("\r\n") + "\r\n\r\n"));
    let head: Buffer | undefined;
    let rest: Buffer[] = [];
    let closedResolve: (b: Buffer) => void = () => undefined;
    const closed = new Promise<Buffer>((r) => (closedResolve = r));
    let buffered = Buffer.alloc(0);
    socket.on("error", () => undefined);
    socket.on("data", (d: Buffer) => {
      if (head) return void rest.push(d);
      buffered = Buffer.concat([buffered, d]);
      const split = buffered.indexOf("\r\n\r\n");
      if (split < 0) return;
      head = buffered.subarray(0, split);
      rest = [buffered.subarray(split + 4)];
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.toString("latin1"))?.[1]) || undefined;
      resolve({ socket, status, send: (bytes) => void (socket.writable && socket.write(bytes)), closed });
    });
    socket.on("close", () => {
      closedResolve(Buffer.concat(rest));
      if (!head) reject(new Error("the server closed the connection before answering the websocket handshake"));
    });
  });
}

export type HardenedServer = { port: number; url: string; secret: string; dataDir: string; proc: Proc; alive: () => boolean; credentials: () => { api_url: string; owner_id: string; token: string } };

/**
 * `baton server` as its own process on the file's database, with a JWT secret the test knows (to sign
 * tokens with hostile claims) and extra environment (BATON_WORKER=off for a database nothing else
 * changes). Resolves when /healthz answers 200.
 */
export async function startHardenedServer(e2e: E2E, env: NodeJS.ProcessEnv = {}): Promise<HardenedServer> {
  const port = await freePort();
  const dataDir = e2e.tempDir("data");
  const secret = env.BATON_JWT_SECRET ?? randomBytes(36).toString("base64url");
  const url = `http://127.0.0.1:${port}`;
  const credentialsFile = path.join(dataDir, "credentials.json");
  const proc = e2e.spawn(`server:${port}`, [BATON_BIN, "server"], {
    ...baseEnv(),
    DATABASE_URL: e2e.db.url,
    BATON_PORT: String(port),
    BATON_DATA_DIR: dataDir,
    BATON_JWT_SECRET: secret,
    BATON_LOG_LEVEL: "warn",
    BATON_WORKER_CONCURRENCY: "2",
    ...env,
  });
  await waitForE2E(
    e2e,
    `the server on port ${port} to answer /healthz`,
    async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200 && fs.existsSync(credentialsFile),
    { timeoutMs: 90_000, unless: proc },
  );
  return {
    port,
    url,
    secret,
    dataDir,
    proc,
    alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
    credentials: () => JSON.parse(fs.readFileSync(credentialsFile, "utf8")),
  };
}
