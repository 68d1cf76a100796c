/**
 * Addresses as written in configuration files, flags and kata-monitor's environment: the
 * `HOST:PORT` the daemon listens on and the CRI runtime's socket.
 *
 * @module
 */

/** Where to listen: what `Deno.serve` takes. */
export interface ListenAddress {
  hostname: string;
  port: number;
}

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (every IPv4 interface, as kata-monitor's
 * `:8090`). Returns `undefined` when the text is not such an address or the port is over
 * 65535.
 *
 * @example Usage
 * ```ts
 * parseListenAddress("127.0.0.1:8090"); // { hostname: "127.0.0.1", port: 8090 }
 * parseListenAddress("[::1]:8090"); // { hostname: "::1", port: 8090 }
 * ```
 */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { hostname: match[1] ?? (match[2] || "0.0.0.0"), port };
}

/**
 * Writes an address back as `HOST:PORT` (an IPv6 host in brackets), for messages and URLs.
 *
 * @example Usage
 * ```ts
 * formatListenAddress({ hostname: "::1", port: 8090 }); // "[::1]:8090"
 * ```
 */
export function formatListenAddress(address: ListenAddress): string {
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `${host}:${address.port}`;
}

/**
 * Parses a CRI runtime endpoint (`/run/containerd/containerd.sock` or
 * `unix:///run/containerd/containerd.sock`) into its socket path. Returns `undefined` for
 * anything but an absolute unix socket path.
 *
 * @example Usage
 * ```ts
 * parseSocketEndpoint("unix:///run/crio/crio.sock"); // "/run/crio/crio.sock"
 * ```
 */
export function parseSocketEndpoint(text: string): string | undefined {
  const path = text.startsWith("unix://") ? text.slice("unix://".length) : text;
  return path.startsWith("/") ? path : undefined;
}
