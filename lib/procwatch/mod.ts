/**
 * The process watch, the security side of the node's anomaly detection: the processes of the
 * node checked against patterns kept as data (crypto-miners by name, pool URL and pool
 * connection; reverse shells; setuid escalation to root in a container), each finding
 * reported once with its pod and container, and counted.
 *
 * @module
 */
export { BUILTIN_PATTERNS, loadPatterns, type Pattern, patternSchema } from "./patterns.ts";
export { type Finding, type ProcessInfo, type ScanOptions, scanProcesses } from "./scan.ts";
export {
  type PodRef,
  type PodResolver,
  ProcessWatch,
  type ProcessWatchOptions,
  type Report,
} from "./watch.ts";
