/**
 * The container images the real-containerd tests import (no registry is reachable here): each
 * a static C program built with `gcc -static`, packed as an OCI image-layout tar of one
 * uncompressed layer, its index annotated with `io.containerd.image.name` so that
 * `ctr images import` names it (written by `scripts/oci_layout.ts`).
 *
 * @module
 */
import { writeOciArchive } from "../../scripts/oci_layout.ts";

/** A test image: its name and the program it runs. */
export interface TestImage {
  /** The name it is imported under, `localhost/agent-test/<program>:1`. */
  name: string;
  /** The program's file name in the image (`/<program>`), its entrypoint. */
  program: string;
  /** The program's C source. */
  source: string;
}

/** The sandboxes' pause image: sleeps until SIGTERM. */
export const PAUSE: TestImage = {
  name: "localhost/agent-test/pause:1",
  program: "pause",
  source: `
#include <signal.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  for (;;) pause();
}
`,
};

/**
 * A workload: touches `argv[1]` MiB of anonymous memory once (default 32), then burns CPU
 * (10 ms spinning, 10 ms asleep) until SIGTERM. Its memory stays put after the start, so a
 * cgroup's working set can be compared between two reads; its CPU time keeps growing.
 */
export const WORKLOAD: TestImage = {
  name: "localhost/agent-test/workload:1",
  program: "workload",
  source: `
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  size_t bytes = (argc > 1 ? (size_t)atol(argv[1]) : 32) << 20;
  /* volatile: a store the compiler may not drop, so every page is really faulted in. */
  volatile char *memory = malloc(bytes);
  for (size_t i = 0; memory && i < bytes; i += 4096) memory[i] = 1;
  struct timespec rest = {0, 10 * 1000 * 1000};
  volatile unsigned long spin = 0;
  for (;;) {
    double until = now() + 0.01;
    while (now() < until) spin++;
    nanosleep(&rest, 0);
  }
}
`,
};

const decoder = new TextDecoder();

async function run(command: string, args: string[], what = command): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${what} failed (exit ${out.code}): ${decoder.decode(out.stderr).trim()}`);
  }
  return decoder.decode(out.stdout);
}

/** Builds `image` as an OCI image-layout tar under `dir` and returns the tar's path. */
export async function buildImage(dir: string, image: TestImage): Promise<string> {
  const build = `${dir}/${image.program}-build`;
  const rootfs = `${build}/rootfs`;
  await Deno.mkdir(rootfs, { recursive: true });
  const source = `${build}/${image.program}.c`;
  await Deno.writeTextFile(source, image.source);
  await run("gcc", ["-static", "-O2", "-o", `${rootfs}/${image.program}`, source], "gcc -static");
  await run("tar", [
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "-C",
    rootfs,
    "-cf",
    `${build}/layer.tar`,
    image.program,
  ]);
  const tar = `${build}/${image.program}.tar`;
  await writeOciArchive(tar, {
    name: image.name,
    layers: [`${build}/layer.tar`],
    config: { Entrypoint: [`/${image.program}`] },
  });
  return tar;
}
