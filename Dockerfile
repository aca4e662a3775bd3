# gapwatchd container image: build and unit-test on Debian 13 (trixie, the
# current stable: librdkafka 2.8, hiredis 1.2 with TLS), run on a slim
# Debian 13 with only the runtime libraries (their names are Debian 13's:
# libssl3t64, libhiredis1.1.0, ...; tests/deploy/check_image.sh checks them in
# the Debian 13 suite, tools/trixie.sh).
#
#   docker build -t gapwatch/gapwatchd:0.1.0 .
#   docker run -v $PWD/gapwatchd.yaml:/etc/gapwatch/gapwatchd.yaml:ro \
#              -e GAPWATCH_REDIS_PASSWORD=... -p 9464:9464 gapwatch/gapwatchd:0.1.0
#
# Configuration comes from a file mounted at /etc/gapwatch/gapwatchd.yaml
# (set metrics.listen to 0.0.0.0:9464 in a container); secrets come from
# environment variables (redis.password_env, or ${VAR} expansion in the
# config) or from a mounted secret file (redis.password_file). Nothing
# secret is baked into the image.

# ---- build: the same commands as README (deps, build, unit tests) ----------
FROM debian:13.8-slim AS build
WORKDIR /src
# deps first, so source edits do not re-install the packages (--suite: what
# the build and the tests need, without clang-format and the fuzzing clang)
COPY tools/deps.sh tools/deps.sh
RUN tools/deps.sh --suite
COPY . .
RUN tools/build.sh
RUN cd build && ctest -L unit --output-on-failure

# ---- runtime ---------------------------------------------------------------
FROM debian:13.8-slim
LABEL org.opencontainers.image.title="gapwatchd" \
      org.opencontainers.image.description="Sales gap detection daemon: Kafka events to Redis window counters and per-rep diagnoses" \
      org.opencontainers.image.version="0.1.0"

RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libhiredis1.1.0 libprotobuf-c1 libyaml-0-2 libjansson4 \
      libcurl4t64 libmicrohttpd12t64 libssl3t64 libicu76 libsystemd0 ca-certificates curl; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 gapwatch; \
    useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin gapwatch; \
    mkdir -p /etc/gapwatch

COPY --from=build /src/build/daemon/gapwatchd /usr/local/bin/gapwatchd
COPY --from=build /src/build/tools/gapwatch /usr/local/bin/gapwatch

EXPOSE 9464
# /healthz answers 200 while the daemon is alive (needs metrics.listen on
# 127.0.0.1:9464 or 0.0.0.0:9464).
HEALTHCHECK CMD curl -fsS http://127.0.0.1:9464/healthz || exit 1
# SIGTERM: the batch in hand is finished and committed; give it ~30 s.
STOPSIGNAL SIGTERM
USER 10001
ENTRYPOINT ["/usr/local/bin/gapwatchd"]
CMD ["-c", "/etc/gapwatch/gapwatchd.yaml"]
