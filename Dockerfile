# pgroute container image: compiled JavaScript and production dependencies on Node 20, run as an unprivileged user.
#
#   docker build -t pgroute:0.1.0 --build-arg VERSION=0.1.0 .
#   docker run --rm -v $PWD/pgroute.yaml:/etc/pgroute/pgroute.yaml:ro -p 6432:6432 pgroute:0.1.0
#
# test/integration/dockerfile-build.test.ts replays the build steps below without a Docker engine: keep every RUN an
# `npm ...` or `npx ...` command run in WORKDIR, or teach that test the new step.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first: this layer is reused until package.json or the lock file change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# .dockerignore keeps node_modules, dist, tests, docs and manifests out of the context.
COPY . .
RUN npx tsc -p tsconfig.build.json
# Only what `node dist/bin/pgroute.js` imports at run time is copied into the final stage.
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="pgroute" \
      org.opencontainers.image.description="PostgreSQL connection-routing proxy: pooling, read/write split, failover-aware, Kubernetes-native discovery" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the runtime user: the code cannot be changed by the process running it.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd entry.
USER 10001:10001
# 6432 auto-routing listener, 6433 read-write, 6434 read-only (as deploy/kubernetes configures them); 8080 HTTP
# (/metrics, /healthz, /readyz, /status, /primary, /replica).
EXPOSE 6432 6433 6434 8080
# pgroute stops accepting on SIGTERM and lets running transactions finish for up to shutdown.timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/bin/pgroute.js"]
CMD ["--config", "/etc/pgroute/pgroute.yaml"]
