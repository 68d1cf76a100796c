/**
 * A real browser for tests: Debian's `chromium`, headless, driven over the Chrome DevTools
 * Protocol (a WebSocket) from Deno. A visit loads a page, collects what the browser's console
 * says (console calls, uncaught exceptions, failed loads such as a missing favicon), reads
 * the page's title and text, and takes a screenshot.
 *
 * @module
 */
import { haveCommand } from "./cores.ts";

/** Why no browser can be run here, or `undefined`. */
export function browserMissing(): string | undefined {
  return haveCommand("chromium") ? undefined : "chromium is not installed";
}

/** What one page load showed. */
export interface Visit {
  /** Console messages, exceptions and log entries of level warning or error. */
  problems: string[];
  title: string;
  /** The page's visible text. */
  text: string;
  /** A PNG of the whole page. */
  screenshot: Uint8Array;
}

/** A running browser. */
export interface Browser {
  visit(url: string, headers?: Record<string, string>): Promise<Visit>;
  close(): Promise<void>;
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

/** Starts chromium headless with a profile of its own and connects to it. */
export async function openBrowser(): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "agent-chromium-" });
  const child = new Deno.Command("chromium", {
    args: [
      "--headless=new",
      // Root (CI, this machine) cannot use chromium's sandbox.
      ...(Deno.uid() === 0 ? ["--no-sandbox"] : []),
      "--disable-gpu",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--disable-background-networking",
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let endpoint: string | undefined;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
  while (endpoint === undefined) {
    const { done, value } = await stderr.read();
    if (done) {
      clearTimeout(deadline);
      await child.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw new Error(`chromium ended before listening:\n${seen}`);
    }
    seen += value;
    endpoint = /DevTools listening on (ws:\/\/\S+)/.exec(seen)?.[1];
  }
  clearTimeout(deadline);
  // The rest of its log is read and dropped, so that chromium never blocks on the pipe.
  const drained = (async () => {
    while (!(await stderr.read()).done) {
      // Dropped.
    }
  })().catch(() => {});

  const socket = new WebSocket(endpoint);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error(`cannot connect to chromium at ${endpoint}`));
  });
  let nextId = 1;
  const pending = new Map<number, { resolve(m: Message): void; reject(e: Error): void }>();
  const listeners = new Set<(message: Message) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as Message;
    if (message.id !== undefined) {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message);
    } else {
      for (const listener of listeners) listener(message);
    }
  };
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: (m) => resolve(m.result ?? {}), reject });
      socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });

  return {
    async visit(url, headers = {}) {
      const { targetId } = await send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true }) as {
        sessionId: string;
      };
      const problems: string[] = [];
      let loaded: () => void = () => {};
      const load = new Promise<void>((resolve) => (loaded = resolve));
      const listener = (message: Message) => {
        if (message.sessionId !== sessionId) return;
        const params = message.params ?? {};
        if (message.method === "Page.loadEventFired") loaded();
        if (message.method === "Runtime.consoleAPICalled") {
          const type = String(params.type);
          const args = (params.args as { value?: unknown; description?: string }[] ?? [])
            .map((a) => String(a.value ?? a.description ?? "")).join(" ");
          if (type === "error" || type === "warning" || type === "assert") {
            problems.push(`console.${type}: ${args}`);
          }
        }
        if (message.method === "Runtime.exceptionThrown") {
          const details = params.exceptionDetails as { text?: string };
          problems.push(`exception: ${details?.text ?? "?"}`);
        }
        if (message.method === "Log.entryAdded") {
          const entry = params.entry as { level: string; text: string; url?: string };
          if (entry.level === "error" || entry.level === "warning") {
            problems.push(`${entry.level}: ${entry.text}${entry.url ? ` (${entry.url})` : ""}`);
          }
        }
      };
      listeners.add(listener);
      try {
        for (const domain of ["Page", "Runtime", "Log", "Network"]) {
          await send(`${domain}.enable`, {}, sessionId);
        }
        if (Object.keys(headers).length > 0) {
          await send("Network.setExtraHTTPHeaders", { headers }, sessionId);
        }
        await send("Emulation.setDeviceMetricsOverride", {
          width: 1280,
          height: 900,
          deviceScaleFactor: 1,
          mobile: false,
        }, sessionId);
        await send("Page.navigate", { url }, sessionId);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          load,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${url} did not load in 30 s`)), 30_000);
          }),
        ]).finally(() => clearTimeout(timer));
        const evaluate = async (expression: string) =>
          String(
            ((await send("Runtime.evaluate", { expression, returnByValue: true }, sessionId))
              .result as { value?: unknown })?.value ?? "",
          );
        const title = await evaluate("document.title");
        const text = await evaluate("document.body ? document.body.innerText : ''");
        const { data } = await send("Page.captureScreenshot", {
          format: "png",
          captureBeyondViewport: true,
        }, sessionId);
        const screenshot = Uint8Array.from(atob(String(data)), (c) => c.charCodeAt(0));
        return { problems, title, text, screenshot };
      } finally {
        listeners.delete(listener);
        await send("Target.closeTarget", { targetId });
      }
    },
    async close() {
      socket.close();
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(timer);
      await drained;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
