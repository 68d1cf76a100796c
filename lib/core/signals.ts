/**
 * Linux signal names and `si_code` meanings (x86_64 and aarch64 share them).
 *
 * @module
 */

const NAMES: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
};

/** Codes any signal can carry: who sent it (`include/uapi/asm-generic/siginfo.h`). */
const GENERIC_CODES: Record<number, string> = {
  0: "sent by kill",
  [-1]: "sent by sigqueue",
  [-2]: "POSIX timer expired",
  [-3]: "POSIX message queue state changed",
  [-4]: "AIO completed",
  [-5]: "queued SIGIO",
  [-6]: "sent by tkill",
  [-7]: "sent by execve killing subsidiary threads",
  [0x80]: "sent by the kernel",
};

/** Fault codes, per signal number. */
const FAULT_CODES: Record<number, Record<number, string>> = {
  4: {
    1: "illegal opcode",
    2: "illegal operand",
    3: "illegal addressing mode",
    4: "illegal trap",
    5: "privileged opcode",
    6: "privileged register",
    7: "coprocessor error",
    8: "internal stack error",
  },
  5: { 1: "breakpoint", 2: "trace trap", 3: "branch trap", 4: "hardware breakpoint" },
  7: {
    1: "invalid address alignment",
    2: "nonexistent physical address",
    3: "object-specific hardware error",
    4: "hardware memory error consumed on a machine check",
    5: "hardware memory error detected in process but not consumed",
  },
  8: {
    1: "integer divide by zero",
    2: "integer overflow",
    3: "floating-point divide by zero",
    4: "floating-point overflow",
    5: "floating-point underflow",
    6: "floating-point inexact result",
    7: "invalid floating-point operation",
    8: "subscript out of range",
    9: "undiagnosed floating-point exception",
    10: "trap taken on a condition",
  },
  11: {
    1: "address not mapped",
    2: "invalid permissions for mapped object",
    3: "failed address bound checks",
    4: "failed protection key checks",
    5: "ADI not enabled for mapped object",
    6: "disrupting MCD error",
    7: "precise MCD exception",
    8: "asynchronous MTE error",
    9: "synchronous MTE tag check fault",
    10: "control protection fault",
  },
};

/** Signals whose `si_addr` holds the faulting address when the kernel raised them. */
const FAULT_SIGNALS = new Set([4, 5, 7, 8, 11]);

/**
 * Returns the signal's name, e.g. `SIGSEGV`, or `SIG<n>` for a number without one.
 *
 * @example Usage
 * ```ts
 * signalName(11); // "SIGSEGV"
 * ```
 */
export function signalName(signo: number): string {
  return NAMES[signo] ?? (signo >= 34 && signo <= 64 ? `SIGRTMIN+${signo - 34}` : `SIG${signo}`);
}

/**
 * Explains a signal's `si_code`, e.g. `address not mapped` for SIGSEGV code 1; `null` (no
 * NT_SIGINFO note, as in cores written by QEMU or old kernels) is "cause not recorded".
 *
 * @example Usage
 * ```ts
 * signalCodeDescription(8, 1); // "integer divide by zero"
 * ```
 */
export function signalCodeDescription(signo: number, code: number | null): string {
  if (code === null) return "cause not recorded";
  if (code > 0 && code !== 0x80) {
    const fault = FAULT_CODES[signo]?.[code];
    if (fault) return fault;
  }
  return GENERIC_CODES[code] ?? `code ${code}`;
}

/** Whether `si_addr` is meaningful: a fault signal raised by the kernel (code > 0). */
export function hasFaultAddress(signo: number, code: number | null): boolean {
  return code !== null && FAULT_SIGNALS.has(signo) && code > 0 && code !== 0x80;
}
