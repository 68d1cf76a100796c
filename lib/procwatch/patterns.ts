/**
 * What the process watch looks for, as data: each pattern names a shape of process that has
 * no business on a node of this cluster, and says how to recognise it. The built-in patterns
 * ({@linkcode BUILTIN_PATTERNS}) cover crypto-miners (by name, by a pool URL on the command
 * line, by a connection to a port mining pools listen on), reverse shells (a shell or an
 * interpreter whose standard input and output are a network connection) and setuid
 * escalation to root inside a container; more are read from a YAML or JSON file in the same
 * shape (`processWatch.patternsFile`).
 *
 * Kinds:
 * - `process`: a regular expression over the command name (`comm`), the executable's file
 *   name, or the command line; any one that is given and matches;
 * - `connection`: a TCP connection (established or being opened) to one of `remotePorts`;
 * - `socket-stdio`: a process whose `comm` matches and whose standard input and output are
 *   both a TCP connection;
 * - `setuid`: effective user root with another real user (a setuid program ran), only in a
 *   container when `inContainer`.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError } from "../errors.ts";

const regex = z.string().min(1).superRefine((value, ctx) => {
  try {
    new RegExp(value, "i");
  } catch (error) {
    ctx.addIssue({
      code: "custom",
      message: `bad regular expression: ${(error as Error).message}`,
    });
  }
});

const common = {
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "expected a name like reverse-shell"),
  description: z.string().default(""),
};

/** The shape of one pattern (validated when read from a file). */
export const patternSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    ...common,
    kind: z.literal("process"),
    comm: regex.optional(),
    exe: regex.optional(),
    cmdline: regex.optional(),
  }).refine((p) => p.comm || p.exe || p.cmdline, "expected comm, exe or cmdline"),
  z.strictObject({
    ...common,
    kind: z.literal("connection"),
    remotePorts: z.array(z.number().int().min(1).max(65535)).min(1),
  }),
  z.strictObject({ ...common, kind: z.literal("socket-stdio"), comm: regex }),
  z.strictObject({ ...common, kind: z.literal("setuid"), inContainer: z.boolean() }),
]);

/** A pattern. */
export type Pattern = z.output<typeof patternSchema>;

/** The patterns built in (see the module's comment). */
export const BUILTIN_PATTERNS: readonly Pattern[] = [
  {
    name: "crypto-miner",
    kind: "process",
    description: "a crypto-miner by its name",
    comm:
      "^(xmrig|xmr-stak.*|minerd|cpuminer.*|cgminer|bfgminer|ccminer|ethminer|nbminer|t-rex|teamredminer|phoenixminer|lolminer|gminer|nanominer|srbminer.*|kdevtmpfsi|kinsing)$",
    exe:
      "^(xmrig|xmr-stak.*|minerd|cpuminer.*|cgminer|bfgminer|ccminer|ethminer|nbminer|t-rex|teamredminer|phoenixminer|lolminer|gminer|nanominer|srbminer.*|kdevtmpfsi|kinsing)$",
  },
  {
    name: "stratum-url",
    kind: "process",
    description: "a mining pool's stratum URL on the command line",
    cmdline: "stratum\\+(tcp|ssl|tls)://",
  },
  {
    name: "stratum-connection",
    kind: "connection",
    description: "a connection to a port mining pools listen on",
    remotePorts: [3333, 3334, 3357, 4444, 5555, 6666, 7777, 14433, 14444, 45560, 45700],
  },
  {
    name: "reverse-shell",
    kind: "socket-stdio",
    description: "a shell or interpreter whose standard input and output are a TCP connection",
    comm:
      "^(sh|bash|dash|zsh|ksh|mksh|ash|csh|tcsh|fish|busybox|python[0-9.]*|perl|ruby|php[0-9.]*|lua[0-9.]*|node|nc|ncat|netcat|socat|telnet)$",
  },
  {
    name: "setuid-root-in-container",
    kind: "setuid",
    description: "a process of a container running as root from another user (a setuid program)",
    inContainer: true,
  },
];

/**
 * Reads patterns from a YAML or JSON file holding a list of them.
 *
 * @throws {ConfigError} when the file cannot be read or a pattern is malformed (naming it).
 */
export async function loadPatterns(path: string): Promise<Pattern[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot read the process patterns "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  let data: unknown;
  try {
    // Loaded only here: with the built-in patterns alone the daemon never holds the parser.
    const { parse } = await import("yaml");
    data = parse(text);
  } catch (error) {
    throw new ConfigError(
      `Cannot read the process patterns "${path}": ${(error as Error).message.split("\n")[0]}`,
      { cause: error },
    );
  }
  const result = z.array(patternSchema).safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(
      `Invalid process patterns "${path}": ${issue.path.join(".") || "the file"}: ${issue.message}`,
    );
  }
  return result.data;
}
