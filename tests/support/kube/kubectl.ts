/**
 * The real `kubectl`, run on a kubeconfig with its cache beside it (never in `~/.kube`).
 *
 * @module
 */

/** What a kubectl run did. */
export interface KubectlRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Whether `kubectl` is on PATH. */
export function haveKubectl(): boolean {
  try {
    return new Deno.Command("kubectl", { args: ["version", "--client"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Runs `kubectl --kubeconfig KUBECONFIG ARGS...`; `stdin` is written to its input. */
export async function kubectl(
  kubeconfig: string,
  args: string[],
  stdin?: string,
): Promise<KubectlRun> {
  const home = kubeconfig.slice(0, kubeconfig.lastIndexOf("/")) || ".";
  const child = new Deno.Command("kubectl", {
    args: ["--kubeconfig", kubeconfig, "--cache-dir", `${home}/.kubectl-cache`, ...args],
    env: { HOME: home },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}
