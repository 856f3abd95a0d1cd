# Baton: server, worker, CLI and daemon in one image (the command picks the role).
FROM node:22-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY . .
ENV BATON_HOST=0.0.0.0 BATON_DATA_DIR=/data
EXPOSE 4000
ENTRYPOINT ["node", "bin/baton.js"]
CMD ["server"]
