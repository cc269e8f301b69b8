# syntax=docker/dockerfile:1
# certgate's container image: the `certgate` binary on distroless (glibc, no shell),
# running as the distroless `nonroot` user (65532).
#
# Not built in CI here: this machine has no Docker. Build it with
#   docker build -t ghcr.io/certgate/certgate:$(cargo pkgid | sed 's/.*[#@]//') .
# A fully static (musl) binary is possible but aws-lc (rustls' crypto) then needs a
# musl C toolchain; the dynamically linked binary on distroless/cc is simpler.
# The release build packs its relocations (DT_RELR, build.rs): it needs glibc 2.36 or
# later, which distroless/cc-debian12 has.

FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
# aws-lc-sys builds with cmake and clang when no prebuilt bindings fit.
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake clang \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin certgate \
    && install -m 0755 target/release/certgate /certgate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /certgate /usr/local/bin/certgate
USER 65532:65532
EXPOSE 9402 9403 8089
ENTRYPOINT ["/usr/local/bin/certgate"]
CMD ["controller"]
