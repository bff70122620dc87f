# syntax=docker/dockerfile:1
#
# Image of `registro serve`: the API, the outbox publisher and the worker in one process on the
# embedded backend (SQLite + files under /data). For trying the system and small single-machine
# deployments; REGISTRO_ENV=production refuses the embedded backend. The cloud binaries
# (registro-api, registro-outbox, registro-worker on Firestore / Pub/Sub / GCS) come later, with
# images of their own built from this workspace the same way.
#
#   docker build -t registro .
#   docker run --rm -p 8080:8080 -v registro-data:/data \
#     -e REGISTRO_PUBLIC_URL=http://localhost:8080 registro
#   docker run --rm -v registro-data:/data registro admin list --status failed
#
# Settings are the env twins of the flags (README "Configuration"): REGISTRO_PUBLIC_URL,
# REGISTRO_ALLOWED_ORIGINS, REGISTRO_FRONTEND_URL, REGISTRO_CATALOG, REGISTRO_INTERNAL_EMAIL, …

# ---- front ------------------------------------------------------------------------------
# The Svelte forms (front/), built to static files that `registro serve` serves at `/`.
FROM node:20-bookworm-slim AS front
WORKDIR /front
COPY front/package.json front/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY front/ ./
RUN npm run build

# ---- build ------------------------------------------------------------------------------
# The Rust toolchain is pinned by the image (the workspace's rust-version), not by a
# rust-toolchain.toml.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target dir between builds; the binary is copied out
# of the cached target dir before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p registro \
 && install -D -m 0755 target/release/registro /out/registro

# ---- runtime ----------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 registro \
 && useradd --system --uid 10001 --gid registro --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin registro \
 && install -d -o registro -g registro -m 0700 /data
COPY --from=build /out/registro /usr/local/bin/registro
COPY --from=front /front/build /usr/local/share/registro/front
USER registro:registro
# Database, receipts, sheet CSVs, e-mails, link secret: personal data, keep the volume private.
# A named volume inherits the owner set above; a bind mount must be writable by uid 10001.
ENV REGISTRO_DATA_DIR=/data \
    REGISTRO_FRONT_DIR=/usr/local/share/registro/front
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["registro"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--data-dir", "/data"]
