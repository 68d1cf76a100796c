/**
 * Runs `bench/_emulator_server.ts` in its own process, so that its memory is not counted
 * with the agent's, and talks to it over stdin and stdout.
 *
 * @module
 */

/** A running emulator process. */
export interface EmulatorProcess {
  url: string;
  /** Restarts `count` pods (one MODIFIED event each) and waits until it has. */
  churn(count: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts the emulator with `pods` realistic Milvus pods. */
export async function startEmulatorProcess(pods: number): Promise<EmulatorProcess> {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--allow-net=127.0.0.1",
      "--allow-read",
      new URL("./_emulator_server.ts", import.meta.url).pathname,
      String(pods),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = server.stdin.getWriter();
  let pending = "";
  const line = async () => {
    while (!pending.includes("\n")) {
      const { done, value } = await output.read();
      if (done) throw new Error("emulator exited");
      pending += value;
    }
    const at = pending.indexOf("\n");
    const text = pending.slice(0, at);
    pending = pending.slice(at + 1);
    return text;
  };
  const url = await line();
  return {
    url,
    churn: async (count) => {
      await writer.write(new TextEncoder().encode(`churn ${count}\n`));
      await line();
    },
    close: async () => {
      await writer.close();
      await output.cancel();
      await server.status;
    },
  };
}
