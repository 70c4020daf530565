# syntax=docker/dockerfile:1
# proofpoint-siem-receiver: polls the Proofpoint TAP SIEM API, exports OTLP/HTTP log records.
#
#   docker build -t proofpoint-siem-receiver .
#   docker run --rm -p 13380:13380 proofpoint-siem-receiver demo          # simulator, no credentials
#   docker run -d --read-only --tmpfs /tmp \
#     -v proofpoint-state:/var/lib/proofpoint-siem-receiver \
#     -e PROOFPOINT_PRINCIPAL=... -e PROOFPOINT_SECRET_FILE=/run/secrets/proofpoint \
#     -e OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 \
#     proofpoint-siem-receiver
#
# Base: the Node.js 24 "Krypton" LTS line (supported until 2028-04), pinned to a patch release so builds
# repeat; the dependency set is the one measured on Node 20, 22 and 24 (design §6). The version is the one in
# .node-version, which CI (.ci/run) also installs to run the test suite on the container's Node: bump it there
# and in the three FROM lines together (test/project/examples.test.ts fails while they disagree).

# 1. Build: dev dependencies (TypeScript), compile src/ to dist/src/.
FROM node:24.17.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# 2. Production dependencies only, from the same lock file.
FROM node:24.17.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

# 3. Runtime: no compiler, no npm cache, no build tools; code owned by root and read-only to the process.
FROM node:24.17.0-bookworm-slim AS runtime
# Only the receiver's own settings here (README "Configuration"); the rest comes from `docker run -e`.
ENV RECEIVER_STATE_DIR=/var/lib/proofpoint-siem-receiver
# One malloc arena instead of one per thread: ~30 MB less peak RSS on a big window (src/node-flags.ts LAUNCH_ENV).
ENV MALLOC_ARENA_MAX=1
WORKDIR /app
# package.json is needed at run time: "type": "module" and the version the receiver reports.
COPY package.json LICENSE ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# The state directory is the only place the receiver writes (the cursor, state.json); `demo` also writes
# under /tmp. So the root filesystem can be read-only (docker run --read-only --tmpfs /tmp, or Kubernetes
# readOnlyRootFilesystem with an emptyDir on /tmp).
RUN mkdir -p /var/lib/proofpoint-siem-receiver \
 && chown 1000:1000 /var/lib/proofpoint-siem-receiver \
 && chmod 0700 /var/lib/proofpoint-siem-receiver
# The image's `node` user, by number so that Kubernetes runAsNonRoot can check it.
USER 1000:1000
VOLUME ["/var/lib/proofpoint-siem-receiver"]
# Ops server (RECEIVER_HTTP_PORT): /healthz, /readyz, /status, /metrics, and the status page at /.
EXPOSE 13380
# No curl in the image: node asks /healthz itself (fetch is built into Node), on RECEIVER_HTTP_PORT if set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.RECEIVER_HTTP_PORT||13380)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1, no npm in between: a shell asks node-flags.js for the options that fit the threads the receiver
# will run (RECEIVER_WORKERS, the CPUs of the pod; src/node-flags.ts), then execs node in its place, so SIGTERM reaches
# the receiver, which stops polling, keeps the cursor at the last acknowledged window and exits within 10 s. A stop
# signal during that first step exits at once (PID 1 ignores signals it does not handle).
ENTRYPOINT ["/bin/sh", "-c", "trap 'exit 0' TERM INT HUP; flags=$(node dist/src/node-flags.js \"$@\"); exec node $flags dist/src/main.js \"$@\"", "proofpoint-siem-receiver"]
CMD ["run"]
