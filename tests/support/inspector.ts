/**
 * A heap snapshot of another Deno process through V8's inspector (the Chrome DevTools
 * protocol over a WebSocket): the process runs with `--inspect=127.0.0.1:PORT`. V8 collects
 * garbage before it takes the snapshot, so what it holds is what the process keeps.
 *
 * @module
 */

/** Takes a heap snapshot of the process inspected on `port` and returns its JSON text. */
export async function heapSnapshot(port: number): Promise<string> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  const chunks: string[] = [];
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.onmessage = (event) => {
        const message = JSON.parse(String(event.data));
        if (message.method === "HeapProfiler.addHeapSnapshotChunk") {
          chunks.push(message.params.chunk);
        } else if (message.id === 2) {
          if (message.error) reject(new Error(JSON.stringify(message.error)));
          else resolve(chunks.join(""));
        }
      };
      socket.onerror = (event) => reject(new Error(`inspector: ${(event as ErrorEvent).message}`));
      socket.send(JSON.stringify({ id: 1, method: "HeapProfiler.enable" }));
      socket.send(JSON.stringify({
        id: 2,
        method: "HeapProfiler.takeHeapSnapshot",
        params: { reportProgress: false },
      }));
    });
  } finally {
    socket.close();
  }
}
