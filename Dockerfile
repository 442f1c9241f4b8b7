# One image for every lagscale command: `docker run lagscale:latest controller ...`, `... worker ...`.
# Node 20, production dependencies only, a non-root user. (No container engine is available where
# lagscale is developed, so this file is not built in CI; the chart and manifests take the image
# name as a value.)
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund && npm run build --silent && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# A small young generation for the lag commands (exporter, controller, autoscale...): README,
# Performance notes. Worker pods replace it with their own NODE_OPTIONS (64 MB semi-spaces).
ENV NODE_OPTIONS=--max-semi-space-size=8
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin lagscale
USER 10001
ENTRYPOINT ["node", "--heap-growing-percent=50", "packages/cli/dist/main.js"]
CMD ["--help"]
