/**
 * The kubeconfig that points kubectl and the agent at an emulator.
 *
 * @module
 */

/**
 * A kubeconfig for `server` with a token user, in `namespace`; with `caPem` the server's
 * certificate is checked against it, without it TLS verification is off.
 */
export function kubeconfigText(server: string, namespace: string, caPem?: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: emulator",
    "  cluster:",
    `    server: ${server}`,
    caPem ? `    certificate-authority-data: ${btoa(caPem)}` : "    insecure-skip-tls-verify: true",
    "users:",
    "- name: tester",
    "  user:",
    "    token: emulator-token",
    "contexts:",
    "- name: emulator",
    "  context:",
    "    cluster: emulator",
    "    user: tester",
    `    namespace: ${namespace}`,
    "current-context: emulator",
    "",
  ].join("\n");
}
