# Baton: server, worker, CLI and daemon in one image (the command picks the role).
# Runs as the unprivileged user node (uid 1000). /data (server), /work and /state (daemon) belong to
# it, so the named volumes docker-compose.yml mounts there start out writable by it and by no one else.

# Stage 1: compile src/ to dist/ with tsc, type-checked, and web/ to dist/web (npm run build). Scripts are skipped: the
# compiler needs no PostgreSQL binaries.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.js ./scripts/
COPY src ./src
# The web dashboard's sources: npm run build bundles them into dist/web (Vite), served at /.
COPY web ./web
RUN npm run build

# Stage 2: the runtime, with production dependencies and the compiled dist/ from stage 1.
FROM node:22-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# `prepare` runs scripts/build.js, which finds no src/ yet and builds nothing; `postinstall` applies
# patches/ to the installed packages (patch-package).
COPY scripts/build.js ./scripts/
COPY patches ./patches/
RUN npm ci --omit=dev
COPY . .
COPY --from=build /app/dist ./dist
RUN mkdir -p /data /work /state \
 && chown node:node /data /work /state \
 && chmod 700 /data /work /state
ENV BATON_HOST=0.0.0.0 BATON_DATA_DIR=/data
USER node
EXPOSE 4000
ENTRYPOINT ["node", "bin/baton.js"]
CMD ["server"]
