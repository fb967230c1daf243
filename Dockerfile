# Multi-stage build: compile with the full Rust toolchain, run from a small image as a non-root user.
# The build image is pinned to the toolchain the project is tested with. Distroless publishes no
# versioned tags: pin its digest (`docker pull gcr.io/distroless/cc-debian12:nonroot`, then
# `FROM gcr.io/distroless/cc-debian12:nonroot@sha256:…`) where you build.
FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# Build dependencies first so that code changes don't rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --profile dist --locked && rm -rf src
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --profile dist --locked && mkdir -p /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
COPY --from=build /src/target/dist/mms-gateway /usr/local/bin/mms-gateway
ENV HOST=0.0.0.0 PORT=3000 DATABASE_URL=sqlite:///data/mms-gateway.db
EXPOSE 3000
USER nonroot:nonroot
# The image has no curl: the binary probes its own GET /health (exit 0 up, 1 down).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/mms-gateway", "health"]
ENTRYPOINT ["/usr/local/bin/mms-gateway"]
CMD ["serve"]
