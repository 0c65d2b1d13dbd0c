# mailgate: application passcodes in front of any IMAP/SMTP server.
# Build: docker build -t mailgate .   Run: docker run -v mailgate-data:/data -v /etc/mailgate:/config:ro \
#   -e MAILGATE_MASTER_PASSWORD=… -p 143:1143 -p 993:1993 -p 587:1587 -p 465:1465 mailgate
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production MAILGATE_CONFIG=/config/mailgate.yaml
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/package.json ./
COPY config/mailgate.example.yaml /config/mailgate.example.yaml
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# Unprivileged ports inside the container; map 143/993/587/465 to them.
EXPOSE 1143 1993 1587 1465
ENTRYPOINT ["node", "/app/bin/mailgate.js"]
CMD ["serve"]
