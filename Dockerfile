# One image for every jiceng service: the chart runs it as `jiceng serve --service <name>` and
# `jiceng migrate --service <name>`.
#
#   docker buildx build --sbom=true --provenance=mode=max \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -t jiceng/jiceng:0.1.0 --push .
#
# BuildKit attaches an SPDX SBOM of the image (every Debian package and the binary's crates,
# which it reads from the Cargo.lock it is built with) and a SLSA provenance attestation; a
# district's registry keeps them beside the image, and the chart deploys the image by digest.

# Build: the workspace's locked dependencies, release profile, one binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p jiceng \
    && cp target/release/jiceng /jiceng

# Run: glibc and CA certificates only; no shell, no package manager, a non-root user.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="jiceng" \
      org.opencontainers.image.description="jiceng (基层): the district platform for party-building-led grassroots governance" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /jiceng /usr/local/bin/jiceng
USER 65532:65532
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/jiceng"]
CMD ["serve", "--help"]
