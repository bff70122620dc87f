# syntax=docker/dockerfile:1
#
# The one image of registro: four binaries of the `registro` package in /usr/local/bin, built by
# `cargo build --release --locked -p registro`, and the built front.
#
#   registro          the embedded system: `registro serve` (API, outbox publisher and worker in
#                     one process on SQLite + files under /data) and `registro admin`. The
#                     default ENTRYPOINT/CMD, for trying the system and small single-machine
#                     deployments; REGISTRO_ENV=production refuses the embedded backend.
#   registro-api      Cloud Run service registro-api (public): accepts the forms.
#   registro-outbox   Cloud Run service registro-outbox (internal): Eventarc + Cloud Scheduler.
#   registro-worker   Cloud Run service registro-worker (internal): the Pub/Sub push subscription.
#
# Cloud Run runs the same image three times and picks the binary with the container's `command`
# (Terraform, infra/modules/cloud-run-service: command = ["registro-api"], ...), which replaces
# the ENTRYPOINT below; the CMD is then ignored. The image is tagged by commit only:
#
#   docker build --build-arg GIT_SHA="$(git rev-parse HEAD)" \
#     --build-arg SOURCE_URL=https://github.com/<owner>/<repo> \
#     -t "${REGION}-docker.pkg.dev/${PROJECT}/registro/registro:$(git rev-parse HEAD)" .
#
# The embedded image, as before:
#
#   docker build -t registro .
#   docker run --rm -p 8080:8080 -v registro-data:/data \
#     -e REGISTRO_PUBLIC_URL=http://localhost:8080 registro
#   docker run --rm -v registro-data:/data registro admin list --status failed
#
# Settings are the env twins of the flags (README "Configuration"): REGISTRO_PUBLIC_URL,
# REGISTRO_ALLOWED_ORIGINS, REGISTRO_FRONTEND_URL, REGISTRO_CATALOG, REGISTRO_INTERNAL_EMAIL, …
#
# No HEALTHCHECK: Cloud Run ignores it (its probes call GET /healthz on port 8080, configured in
# Terraform), and one here would need curl or wget in the image, which has neither (no shell).
# For the embedded image, let the orchestrator probe http://<host>:8080/healthz.

# ---- front ------------------------------------------------------------------------------
# The Svelte forms (front/), built to static files that `registro serve` serves at `/`.
FROM node:20-bookworm-slim AS front
WORKDIR /front
COPY front/package.json front/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY front/ ./
RUN npm run build

# ---- planner ----------------------------------------------------------------------------
# The dependency skeleton of the workspace: Cargo.toml, Cargo.lock, every member's manifest
# (and build.rs, none today) with each of its targets replaced by an empty stub. The stage
# reruns on any source change, but its output only changes when a manifest or the lock file
# does, so the `deps` layer below stays cached across source-only changes (cargo-chef's idea,
# without fetching cargo-chef).
#
# The loop mirrors the workspace members (Cargo.toml: members = ["crates/*", "bench"]). A member
# left out would change the resolution and `--locked` fails loudly instead of building wrong.
# The stubs hold no include_str!, so the files the real crates include (catalog/example.json,
# crates/domain/templates/, crates/firestore-store/indexes.json) are only needed by `build`.
FROM rust:1.95-slim-bookworm AS planner
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY bench bench
RUN set -eu; \
    mkdir -p /skeleton; \
    cp Cargo.toml Cargo.lock /skeleton/; \
    for manifest in crates/*/Cargo.toml bench/Cargo.toml; do \
      dir="${manifest%/Cargo.toml}"; \
      mkdir -p "/skeleton/$dir/src"; \
      cp "$manifest" "/skeleton/$dir/Cargo.toml"; \
      if [ -f "$dir/build.rs" ]; then cp "$dir/build.rs" "/skeleton/$dir/build.rs"; fi; \
      if [ -f "$dir/src/lib.rs" ]; then : > "/skeleton/$dir/src/lib.rs"; fi; \
      for bin in "$dir/src/main.rs" "$dir"/src/bin/*.rs; do \
        if [ -f "$bin" ]; then \
          mkdir -p "/skeleton/${bin%/*}"; \
          echo 'fn main() {}' > "/skeleton/$bin"; \
        fi; \
      done; \
    done

# ---- build ------------------------------------------------------------------------------
# The Rust toolchain is pinned by the image (the workspace's rust-version), not by a
# rust-toolchain.toml. rustls everywhere: no OpenSSL headers needed (.ci/run checks that
# openssl-sys stays out of the tree); gcc from the image builds aws-lc-sys and bundled SQLite.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src

# deps: every dependency compiled against the stubs, in a layer of its own. The registry and
# git checkouts live in cache mounts (shared with the next step); target/ stays in the layer,
# which is the point.
COPY --from=planner /skeleton/ ./
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo build --release --locked -p registro

# The real sources. COPY may keep mtimes older than the stub build, and cargo would then keep
# the stubs' artifacts: touching every source makes it rebuild the workspace's own crates (and
# only them). The runtime's /data is made here because the runtime image has no shell.
COPY catalog catalog
COPY crates crates
COPY bench bench
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    find crates bench -name '*.rs' -exec touch {} + \
 && cargo build --release --locked -p registro \
 && for bin in registro registro-api registro-outbox registro-worker; do \
      install -D -m 0755 "target/release/$bin" "/out/bin/$bin"; \
    done \
 && install -d -o 10001 -g 10001 -m 0700 /out/data

# ---- runtime ----------------------------------------------------------------------------
# distroless/cc: glibc, libgcc_s (all the binaries link besides the vDSO: checked with ldd),
# ca-certificates and tzdata; no shell, no package manager, no OpenSSL. Debian 12 like the
# build stage, so the glibc matches. Its `nonroot` user is 65532; we run as 10001:10001 by
# number (no passwd entry needed). /data comes from the build stage already owned by 10001,
# mode 0700, since there is no shell here for `install -d`; a named volume copies that owner.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG GIT_SHA=unknown
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="registro" \
      org.opencontainers.image.description="SMMUN registration backend: registro (embedded), registro-api, registro-outbox, registro-worker" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${GIT_SHA}"
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=front /front/build /usr/local/share/registro/front
COPY --from=build --chown=10001:10001 /out/data /data
USER 10001:10001
# Database, receipts, sheet CSVs, e-mails, link secret: personal data, keep the volume private.
# A named volume inherits the owner set above; a bind mount must be writable by uid 10001.
ENV REGISTRO_DATA_DIR=/data \
    REGISTRO_FRONT_DIR=/usr/local/share/registro/front
VOLUME ["/data"]
EXPOSE 8080
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK on purpose: Cloud Run ignores it and probes GET /healthz itself; one would need curl/wget, which this shell-less image does not have
ENTRYPOINT ["registro"]
CMD ["serve", "--addr", "0.0.0.0:8080", "--data-dir", "/data"]
