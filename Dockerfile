# chitram on the official Bun image (version pinned like package.json's packageManager).
FROM oven/bun:1.4.5 AS build
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production
COPY . .

FROM oven/bun:1.4.5
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data PORT=3000 HOST=0.0.0.0
COPY --from=build /app /app
# The server runs as the image's unprivileged user `bun` (uid 1000), so its data folder must
# exist and belong to that user before VOLUME: Docker fills a new volume from the image's folder,
# owner included. Without this the volume is root's, and chitram stops with
# "DATA_DIR /data is not writable by uid 1000 (EACCES)".
RUN mkdir -p /data && chown bun:bun /data
VOLUME ["/data"]
EXPOSE 3000
USER bun
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD bun -e "fetch('http://127.0.0.1:3000/health').then(r => process.exit(r.status === 200 ? 0 : 1)).catch(() => process.exit(1))"
CMD ["bun", "run", "src/main.ts"]
