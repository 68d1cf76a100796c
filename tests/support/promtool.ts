/**
 * `promtool check metrics` on a text, with the accepted lint findings set apart: promtool
 * lints names the peers the agent is compatible with chose, kept as they are: Kata's
 * (`kata_monitor_running_shim_count` "should not have `_count` suffix",
 * `…_histogram_milliseconds` "use base unit seconds"), node_exporter's names made of the
 * kernel's field names: its meminfo and meminfo_numa collectors' (`node_memory_MemTotal_bytes`,
 * `node_memory_numa_MemFree`) and its netstat collector's (`node_netstat_Tcp_InSegs`, the
 * protocol and field of `/proc/net/snmp`), all "should be written in 'snake_case'"; cAdvisor's
 * `container_memory_failcnt` (a counter without `_total`: cAdvisor's name, kept so that its
 * dashboards work) and dcgm-exporter's `DCGM_FI_*` families (DCGM's upper-case field names,
 * counters without `_total`, the labels `UUID` and `modelName`: dcgm-exporter chose them, and
 * GPU dashboards query them so). Parse errors and findings on any other name are defects.
 *
 * @module
 */

/** What promtool said, split into accepted Kata-name lints and everything else. */
export interface PromtoolResult {
  code: number;
  /** Lint findings on `kata_*` names (accepted). */
  kataLints: string[];
  /** Lint findings on node_exporter's camel-case `node_memory_*`, `node_netstat_*` names. */
  nodeExporterLints: string[];
  /** Lint findings on names cAdvisor chose (accepted). */
  cadvisorLints: string[];
  /** Lint findings on dcgm-exporter's `DCGM_FI_*` families (accepted). */
  dcgmLints: string[];
  /** Every other line of output: must be empty. */
  defects: string[];
}

/** Runs `promtool check metrics` with `text` on stdin. */
export async function promtoolCheck(text: string): Promise<PromtoolResult> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const lines = (new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr))
    .split("\n").filter((line) => line.trim() !== "");
  const kataLints = lines.filter((line) => /^kata_[a-z0-9_]+ /.test(line));
  const nodeExporterLints = lines.filter((line) =>
    /^node_(memory|netstat)_\w+ metric names should be written in 'snake_case' not 'camelCase'$/
      .test(line)
  );
  const cadvisorLints = lines.filter((line) =>
    line === 'container_memory_failcnt counter metrics should have "_total" suffix'
  );
  const dcgmLints = lines.filter((line) => /^DCGM_FI_[A-Z0-9_]+ /.test(line));
  const accepted = new Set([...kataLints, ...nodeExporterLints, ...cadvisorLints, ...dcgmLints]);
  return {
    code: out.code,
    kataLints,
    nodeExporterLints,
    cadvisorLints,
    dcgmLints,
    defects: lines.filter((l) => !accepted.has(l)),
  };
}
