# syntax=docker/dockerfile:1
# Build with dev dependencies, run with production dependencies only.
FROM node:24.11.1-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24.11.1-bookworm-slim AS runtime
ENV NODE_ENV=production \
    RECEIVER_STATE_DIR=/var/lib/proofpoint-siem-receiver
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && mkdir -p /var/lib/proofpoint-siem-receiver && chown node:node /var/lib/proofpoint-siem-receiver
COPY --from=build /app/dist/src ./dist/src
USER node
VOLUME ["/var/lib/proofpoint-siem-receiver"]
EXPOSE 13133
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:13133/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# No shell wrapper: SIGTERM goes straight to node.
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["run"]
