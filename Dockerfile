# reach-puller: multi-stage build; the runtime image holds compiled JS and production
# dependencies only, and runs as an unprivileged user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# `prepare` builds dist/ after an install in a checkout; here the sources come after the
# install (so its layer stays cached), and the build runs below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    REACH_PULLER_HOME=/var/lib/reach-puller
WORKDIR /app
COPY package.json package-lock.json ./
# No scripts: `prepare` would build without the compiler, and no production dependency the
# image runs needs one (esbuild's belongs to tsx, which runs sources, and the image has none).
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
COPY connectors/connector.schema.json ./connectors/connector.schema.json
RUN groupadd --system reach && useradd --system --gid reach --home-dir /var/lib/reach-puller reach \
    && mkdir -p /var/lib/reach-puller && chown reach:reach /var/lib/reach-puller
USER reach
EXPOSE 8080
ENTRYPOINT ["node", "bin/reach-puller.js"]
CMD ["serve"]
