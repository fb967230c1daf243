# Multi-stage build: compile with the full Rust toolchain, run from a small image as a non-root user.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Build dependencies first so that code changes don't rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked && rm -rf src
COPY . .
RUN touch src/main.rs src/lib.rs && cargo build --release --locked && mkdir -p /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
COPY --from=build /src/target/release/mms-gateway /usr/local/bin/mms-gateway
ENV HOST=0.0.0.0 PORT=3000 DATABASE_URL=sqlite:///data/mms-gateway.db
EXPOSE 3000
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/mms-gateway"]
CMD ["serve"]
