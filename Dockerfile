# Baton: server, worker, CLI and daemon in one image (the command picks the role).
# Runs as the unprivileged user node (uid 1000). /data (server), /work and /state (daemon) belong to
# it, so the named volumes docker-compose.yml mounts there start out writable by it and by no one else.
FROM node:22-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY . .
# The transpile cache (bin/ts-require.js) is the one place under /app that the user writes; the rest stays root's.
RUN mkdir -p /data /work /state node_modules/.cache/baton-ts \
 && chown node:node /data /work /state node_modules/.cache/baton-ts \
 && chmod 700 /data /work /state
ENV BATON_HOST=0.0.0.0 BATON_DATA_DIR=/data
USER node
EXPOSE 4000
ENTRYPOINT ["node", "bin/baton.js"]
CMD ["server"]
