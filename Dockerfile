# The agent's image, as the release publishes it (ghcr.io/agent-dev/agent:VERSION, for
# linux/amd64 and linux/arm64; see .github/workflows/release.yml):
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/agent-dev/agent:0.1.0 .
#
# Where no registry is reachable, `deno task image` builds the same image (Debian bookworm with
# the same packages, the same user, entrypoint and command) from Debian's archive alone; see
# scripts/build_image.ts. tests/image_test.ts keeps the two in step.

# 1. The release binary: `deno compile` on the build machine for the target's architecture.
FROM --platform=$BUILDPLATFORM denoland/deno:2.9.6 AS build
ARG TARGETARCH
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY cli cli
COPY daemon daemon
COPY lib lib
RUN case "$TARGETARCH" in \
      amd64) target=x86_64-unknown-linux-gnu ;; \
      arm64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported architecture: $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && deno compile -q --v8-flags=--max-semi-space-size=1,--heap-growing-percent=50,--no-concurrent-recompilation -P=agent --target "$target" \
      --include cli/_later_modules.ts --include lib/store/_zstd_worker.ts --include lib/kata/_scrape_worker.ts --output /out/agent main.ts

# 2. The runtime: Debian with what the agent runs beside it (gdb reads the stacks, fuser tells
# whether a core is still being written, getfattr reads systemd-coredump's metadata) and what an
# SRE reaches for in the pod (eu-stack, eu-readelf; zstd for systemd's compressed cores).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends gdb elfutils psmisc attr zstd ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/agent /usr/local/bin/agent
RUN install -d -o 65532 -g 65532 /var/lib/agent && install -d /etc/agent
# Unprivileged by default; the DaemonSet runs it as root with every capability dropped but those
# its features need (see manifests/daemonset.yaml).
USER 65532:65532
WORKDIR /var/lib/agent
ENV NO_COLOR=1
LABEL org.opencontainers.image.title="agent" \
      org.opencontainers.image.description="Crash forensics and node metrics for Kubernetes nodes" \
      org.opencontainers.image.source="https://github.com/agent-dev/agent"
ENTRYPOINT ["/usr/local/bin/agent"]
CMD ["daemon"]
