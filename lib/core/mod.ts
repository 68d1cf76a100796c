/**
 * Crash forensics on one core: the ELF core note reader, the gdb runner and parser, the
 * combined analysis with its one-sentence crash reason, and the rule-based score.
 *
 * @module
 */
export { readElfIdentity } from "./build_id.ts";
export type { BundleFile } from "./symbols.ts";
export { analyzeCore, type AnalyzeOptions, analyzeOptions, type CoreAnalysis } from "./analyze.ts";
export { crashFrame, type Frame, frameLabel, frameName, isProgramFrame } from "./frames.ts";
export { type CoreNotes, readCoreNotes } from "./elf_core.ts";
export { crashFingerprint, type Fingerprint, type FingerprintInput } from "./fingerprint.ts";
export { discardPrestartedGdb, type GdbOptions, prestartGdb, runGdb } from "./gdb.ts";
export { parseGdbOutput } from "./gdb_parse.ts";
export {
  type Lift,
  liftingRule,
  ruleCondition,
  type Score,
  scoreCore,
  type ScoreItem,
  type ScoreOptions,
  scoreOptions,
  stackTraceText,
} from "./score.ts";
export { signalCodeDescription, signalName } from "./signals.ts";
