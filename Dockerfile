# One image for every jiceng service: the chart runs it as `jiceng serve --service <name>` and
# `jiceng migrate --service <name>`.
#   docker build -t jiceng/jiceng:0.1.0 .

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
COPY --from=build /jiceng /usr/local/bin/jiceng
USER 65532:65532
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/jiceng"]
CMD ["serve", "--help"]
