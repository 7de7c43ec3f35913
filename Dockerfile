# The dogstatsd daemon as a container image.
#
#   docker build -t dogstatsd-rs .
#   docker run -p 8125:8125/udp -v /var/run/datadog:/var/run/datadog dogstatsd-rs
#
# Build stage: the same command as the README's release build.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core core
COPY native native
COPY wasm wasm
COPY tests tests
COPY benches benches
RUN cargo build --release --locked -p dogstatsd-native

# Runtime stage: a small image with the binary only, run as a dedicated
# non-root user.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 dogstatsd \
 && useradd --system --uid 10001 --gid dogstatsd --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin dogstatsd \
 && mkdir -p /var/run/datadog /var/lib/dogstatsd \
 && chown dogstatsd:dogstatsd /var/run/datadog /var/lib/dogstatsd \
 && chmod 0755 /var/run/datadog
COPY --from=build /src/target/release/dogstatsd /usr/local/bin/dogstatsd
USER dogstatsd:dogstatsd
# In a container the daemon must accept traffic from outside its own
# network namespace (the Agent image sets the same), and it listens on the
# UDS path the Datadog docs use, in a volume shared with application pods.
ENV DD_DOGSTATSD_NON_LOCAL_TRAFFIC=true \
    DD_DOGSTATSD_SOCKET=/var/run/datadog/dsd.socket
EXPOSE 8125/udp
VOLUME ["/var/run/datadog"]
ENTRYPOINT ["/usr/local/bin/dogstatsd"]
CMD ["run"]
