# syntax=docker/dockerfile:1
# The zoloz-verdict image: the release binary alone on a distroless base, running as 65532.
#
#   docker build -t zoloz-verdict:0.1.0 .
#
# The build needs no protoc (build.rs compiles the protos with protox).

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layers: they are rebuilt only when Cargo.toml, Cargo.lock,
# build.rs or the protos change, not on every source edit. The crate's own sources are stand-ins
# here, and its build outputs are removed so that the real build below recompiles it.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && echo '//! stand-in' > src/lib.rs \
 && cargo fetch --locked
COPY build.rs ./
COPY proto ./proto
RUN cargo build --release --locked \
 && rm -rf src target/release/zoloz-verdict* target/release/deps/zoloz_verdict-* \
           target/release/deps/libzoloz_verdict-* target/release/.fingerprint/zoloz-verdict-*

COPY src ./src
RUN cargo build --release --locked --bin zoloz-verdict \
 && install -D -m 0755 target/release/zoloz-verdict /out/zoloz-verdict

# ---- runtime ----------------------------------------------------------------------------------
# glibc, libgcc, CA certificates and /etc/nsswitch.conf, no shell; the nonroot user is 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/zoloz-verdict /usr/local/bin/zoloz-verdict
USER 65532:65532
# gRPC, Prometheus metrics.
EXPOSE 50051 9090
ENTRYPOINT ["zoloz-verdict"]
CMD ["serve", "--config", "/etc/zoloz-verdict/config.toml"]
