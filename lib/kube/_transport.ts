/**
 * How requests reach the API server: Deno's `fetch` (with an HTTP client for a custom CA, a
 * client certificate or a proxy), or, for what that `fetch` cannot do, a `fetch` over
 * `node:https`: skipping certificate verification (`insecure-skip-tls-verify`) and checking the
 * certificate against another name than the URL's host (`tls-server-name`), through an HTTP
 * proxy (`proxy-url`) by a CONNECT tunnel, as client-go does.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import tls from "node:tls";

/** What a kubeconfig cluster and user say about the connection. */
export interface TransportOptions {
  /** PEM of the CA that signed the server's certificate; default: the system's. */
  ca?: string;
  /** PEM client certificate and key. */
  cert?: string;
  key?: string;
  /** `insecure-skip-tls-verify`: accept any server certificate. */
  insecure?: boolean;
  /** `tls-server-name`: the name for SNI and the certificate check instead of the URL's host. */
  serverName?: string;
  /** `proxy-url` (http:// or https://): the proxy every request goes through. */
  proxy?: URL;
}

/** A `fetch` for one API server, and what to close when done. */
export interface Transport {
  fetch: (input: URL, init: RequestInit) => Promise<Response>;
  close(): void;
}

/**
 * The transport for `options`: Deno's `fetch` unless verification is skipped or another
 * server name is asked for, which only `node:https` can do.
 */
export function createTransport(options: TransportOptions): Transport {
  if (options.insecure || options.serverName) return nodeTransport(options);
  if (!options.ca && !(options.cert && options.key) && !options.proxy) {
    return { fetch: (input, init) => fetch(input, init), close: () => {} };
  }
  const client = Deno.createHttpClient({
    ...(options.ca ? { caCerts: [options.ca] } : {}),
    ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
    ...(options.proxy ? { proxy: { url: options.proxy.href } } : {}),
  });
  return {
    fetch: (input, init) => fetch(input, { ...init, client } as RequestInit),
    close: () => client.close(),
  };
}

/** An IPv6 address without the brackets a URL puts around it. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

/** Opens a tunnel to `target` through an HTTP proxy (CONNECT, RFC 9110 9.3.6). */
function tunnel(proxy: URL, target: URL, signal?: AbortSignal | null): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const port = target.port || "443";
    const authority = `${target.hostname}:${port}`;
    const headers: Record<string, string> = { host: authority };
    if (proxy.username) {
      const credentials = `${decodeURIComponent(proxy.username)}:${
        decodeURIComponent(proxy.password)
      }`;
      headers["proxy-authorization"] = `Basic ${Buffer.from(credentials).toString("base64")}`;
    }
    const request = (proxy.protocol === "https:" ? https : http).request({
      host: hostOf(proxy),
      port: proxy.port || (proxy.protocol === "https:" ? 443 : 80),
      method: "CONNECT",
      path: authority,
      headers,
      agent: false,
      ...(signal ? { signal } : {}),
    });
    request.on("connect", (response, socket) => {
      if (response.statusCode === 200) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`proxy ${proxy.host} refused the tunnel: ${response.statusCode}`));
      }
    });
    request.on("error", reject);
    request.end();
  });
}

function nodeTransport(options: TransportOptions): Transport {
  const tlsOptions = {
    ...(options.ca ? { ca: options.ca } : {}),
    ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
    rejectUnauthorized: !options.insecure,
    ...(options.serverName ? { servername: options.serverName } : {}),
  };
  // Connections are kept for the requests that follow, as Deno's fetch keeps them.
  const agent = new https.Agent({ keepAlive: true, ...tlsOptions });
  const send = async (input: URL, init: RequestInit): Promise<Response> => {
    const signal = init.signal;
    signal?.throwIfAborted();
    const socket = options.proxy ? await tunnel(options.proxy, input, signal) : undefined;
    return await new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, name) => headers[name] = value);
      const request = https.request({
        host: hostOf(input),
        port: input.port || 443,
        path: input.pathname + input.search,
        method: init.method ?? "GET",
        headers,
        ...tlsOptions,
        ...(socket
          ? {
            agent: false,
            createConnection: () =>
              tls.connect({
                ...tlsOptions,
                socket,
                servername: options.serverName ?? hostOf(input),
              }),
          }
          : { agent }),
      }, (response) => {
        const status = response.statusCode ?? 502;
        const responseHeaders = new Headers();
        for (let i = 0; i + 1 < response.rawHeaders.length; i += 2) {
          responseHeaders.append(response.rawHeaders[i]!, response.rawHeaders[i + 1]!);
        }
        const body = status === 204 || status === 304
          ? null
          : Readable.toWeb(response) as ReadableStream<Uint8Array>;
        if (body === null) response.resume();
        resolve(
          new Response(body, {
            status,
            statusText: response.statusMessage,
            headers: responseHeaders,
          }),
        );
        // A signal that aborts later ends the body, as it does for fetch.
        signal?.addEventListener("abort", () => response.destroy(signal.reason), { once: true });
      });
      const onAbort = () => {
        request.destroy();
        socket?.destroy();
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      request.on("error", (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      });
      request.on("response", () => signal?.removeEventListener("abort", onAbort));
      if (typeof init.body === "string") request.write(init.body);
      request.end();
    });
  };
  return { fetch: send, close: () => agent.destroy() };
}
