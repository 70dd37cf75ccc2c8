# syntax=docker/dockerfile:1
# confighash image: type-checked and compiled in a build stage; the runtime stage
# holds only dist/ and production dependencies, runs as a non-root numeric user,
# and needs no shell.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 65532:65532
EXPOSE 9443 8080
# Memory settings measured in docs/performance.md (npm run bench runs confighash
# with this ENV and these flags): glibc serves buffers of 16 KiB and more (network
# reads) from their own mappings and returns them when freed, instead of keeping a
# fragmented heap, and from two arenas rather than one per thread (outside the V8
# heap, 1 to 5 MiB less up to 10,000 sources, the same at 20,000); V8 grows its
# heap slowly (--optimize-for-size: at 20,000 sources it left 40 MiB resident
# instead of 100), optimizes with Maglev and not TurboFan (--max-opt=2: TurboFan's
# code, paged in from the node binary once it optimizes anything, stayed resident,
# 6 MiB, for no admission measured faster), keeps small young-generation
# semi-spaces, and has a limit under the container's 512Mi so that it collects
# before the kernel kills.
ENV MALLOC_MMAP_THRESHOLD_=16384 MALLOC_TRIM_THRESHOLD_=131072 MALLOC_ARENA_MAX=2
ENTRYPOINT ["/nodejs/bin/node", "--optimize-for-size", "--max-opt=2", "--max-semi-space-size=4", "--max-old-space-size=256", "dist/cli/main.js"]
CMD ["run"]
