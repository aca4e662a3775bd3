#!/usr/bin/env bash
# Apache Kafka's own broker (4.x, KRaft combined mode) for the real-broker
# tests: fetched from Maven Central into a cache, configured in a directory,
# run on loopback ports with a small heap.
#
#   tools/kafka.sh fetch                      resolve the broker's jars (idempotent);
#                                             prints the cache's lib directory
#   tools/kafka.sh config DIR [--nodes N] [--sasl-ssl]
#                                             pick free ports, write each node's
#                                             server.properties, format its storage;
#                                             DIR/bootstrap: the PLAINTEXT listeners,
#                                             DIR/bootstrap-sasl: the SASL_SSL ones
#   tools/kafka.sh run DIR NODE               exec node NODE (1..N) in the foreground
#                                             (the C harness spawns this)
#   tools/kafka.sh start DIR [--nodes N] [--sasl-ssl]
#                                             config, then every node in the
#                                             background; waits until each listens
#   tools/kafka.sh stop DIR                   SIGTERM every node started by `start`
#
# Nodes are controllers and brokers at once (process.roles=broker,controller);
# with N nodes the internal topics get replication factor N (min ISR N-1),
# so a node may die and come back. --sasl-ssl adds a SASL_SSL listener
# (mechanisms SCRAM-SHA-512 and PLAIN, user `gapwatch`, password in
# DIR/scram-password; the SCRAM credential is created at format time) with
# a certificate from a CA that openssl makes in DIR/tls (DIR/tls/ca.pem).
# librdkafka before 2.6.1 cannot log in with SCRAM to a 4.x broker (its
# client-final nonce, librdkafka PR 4895): use PLAIN (over TLS) there.
#
# Environment: KAFKA_VERSION (default 4.1.1), GW_KAFKA_CACHE (default
# ~/.cache/gapwatch/kafka), KAFKA_HEAP (default -Xmx512m -Xms128m).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
version="${KAFKA_VERSION:-4.1.1}"
cache="${GW_KAFKA_CACHE:-$HOME/.cache/gapwatch/kafka}/$version"
lib="$cache/lib"

die() {
  echo "kafka.sh: $*" >&2
  exit 1
}

fetch() {
  if [ -f "$cache/.complete" ]; then
    echo "$lib"
    return
  fi
  command -v mvn >/dev/null || die "mvn not found (tools/deps.sh installs maven)"
  command -v java >/dev/null || die "java not found (tools/deps.sh installs a JRE)"
  rm -rf "$lib"
  mkdir -p "$lib"
  echo "kafka.sh: fetching org.apache.kafka:kafka_2.13:$version and its runtime dependencies" >&2
  (cd "$here/kafka" && mvn -q -B -Dstyle.color=never -Dkafka.version="$version" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib") >&2 ||
    die "maven could not resolve kafka_2.13:$version (see above)"
  [ -f "$lib/kafka_2.13-$version.jar" ] || die "no kafka_2.13-$version.jar in $lib"
  touch "$cache/.complete"
  echo "$lib"
}

# A TCP port nobody listens on at 127.0.0.1 (bash's /dev/tcp: a refused
# connection means free), not in `taken`, below the kernel's ephemeral
# range (where outgoing connections would take it before the broker binds).
taken=" "
free_port() {
  local p lo=32768
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$lo" -gt 12000 ] || lo=32768
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (lo - 10000)))
    case "$taken" in *" $p "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      taken="$taken$p "
      echo "$p"
      return
    fi
  done
  die "no free port found"
}

make_tls() {
  local d="$1/tls"
  mkdir -p "$d"
  command -v openssl >/dev/null || die "openssl not found"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=gapwatch test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$d/broker.key" -out "$d/broker.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san.ext"
  openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/san.ext" -out "$d/broker.crt" 2>/dev/null
  # Kafka's PEM key store: an unencrypted PKCS#8 key and the certificate
  # chain in one file; the trust store for the brokers' own clients.
  openssl pkcs8 -topk8 -nocrypt -in "$d/broker.key" -out "$d/broker.p8"
  cat "$d/broker.p8" "$d/broker.crt" >"$d/broker-keystore.pem"
}

config() {
  local dir="$1"
  shift
  local nodes=1 sasl=0
  while [ $# -gt 0 ]; do
    case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --sasl-ssl) sasl=1; shift ;;
    *) die "config: unknown option $1" ;;
    esac
  done
  fetch >/dev/null
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  rm -rf "$dir"/node-* "$dir/tls"  # a new cluster each time
  local voters="" boot="" bootsasl="" i
  local -a pport cport sport
  for i in $(seq 1 "$nodes"); do
    pport[i]=$(free_port)
    cport[i]=$(free_port)
    sport[i]=$(free_port)
    voters="$voters${voters:+,}$i@127.0.0.1:${cport[i]}"
    boot="$boot${boot:+,}127.0.0.1:${pport[i]}"
    bootsasl="$bootsasl${bootsasl:+,}localhost:${sport[i]}"
  done
  local rf=$nodes minisr=$((nodes > 1 ? nodes - 1 : 1))
  local password=""
  if [ $sasl -eq 1 ]; then
    make_tls "$dir"
    password="scram-$RANDOM$RANDOM"
    echo "$password" >"$dir/scram-password"
  fi
  local cluster
  cluster=$(java -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  for i in $(seq 1 "$nodes"); do
    local nd="$dir/node-$i"
    mkdir -p "$nd"
    local listeners="PLAINTEXT://127.0.0.1:${pport[i]},CONTROLLER://127.0.0.1:${cport[i]}"
    local advertised="PLAINTEXT://127.0.0.1:${pport[i]}"
    local map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [ $sasl -eq 1 ]; then
      listeners="$listeners,SASL_SSL://127.0.0.1:${sport[i]}"
      advertised="$advertised,SASL_SSL://localhost:${sport[i]}"
      map="$map,SASL_SSL:SASL_SSL"
    fi
    cat >"$nd/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
listener.security.protocol.map=$map
inter.broker.listener.name=PLAINTEXT
log.dirs=$nd/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$minisr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$minisr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$minisr
group.initial.rebalance.delay.ms=0
# A dead node leaves the ISR after 2 s, not 30: until then acks=all writes
# (offset commits too) wait for it, and the group coordinator answers no
# heartbeat queued behind a commit: members with the tests' 6 s sessions
# would time out.
replica.lag.time.max.ms=2000
# The controller declares a silent node dead after 3 s, not 9, and moves
# its leaderships (the group coordinator's too) before such a session ends.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
auto.create.topics.enable=false
log.segment.bytes=16777216
num.network.threads=2
num.io.threads=2
background.threads=2
EOF
    if [ $sasl -eq 1 ]; then
      cat >>"$nd/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_gapwatch="$password";
ssl.keystore.type=PEM
ssl.keystore.location=$dir/tls/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$dir/tls/ca.pem
ssl.client.auth=none
EOF
    fi
    local -a scram=()
    [ $sasl -eq 1 ] && scram=(--add-scram "SCRAM-SHA-512=[name=\"gapwatch\",password=\"$password\"]")
    java -cp "$lib/*" kafka.tools.StorageTool format -t "$cluster" \
      -c "$nd/server.properties" "${scram[@]}" >"$nd/format.log" 2>&1 ||
      { cat "$nd/format.log" >&2; die "formatting node $i failed"; }
  done
  echo "$boot" >"$dir/bootstrap"
  echo "$bootsasl" >"$dir/bootstrap-sasl"
  echo "$nodes" >"$dir/nodes"
}

run() {
  local dir="$1" node="$2"
  local nd="$dir/node-$node"
  [ -f "$nd/server.properties" ] || die "no $nd/server.properties (run config first)"
  # log4j2: the broker's log in the node's folder, warnings and up.
  cat >"$nd/log4j2.properties" <<EOF
appender.f.type=File
appender.f.name=f
appender.f.fileName=$nd/broker.log
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=${KAFKA_LOG_LEVEL:-WARN}
rootLogger.appenderRef.f.ref=f
logger.kafka.name=kafka.server.KafkaServer
logger.kafka.level=INFO
EOF
  # shellcheck disable=SC2086
  exec java ${KAFKA_HEAP:--Xmx512m -Xms128m} -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$nd/log4j2.properties" \
    -cp "$lib/*" kafka.Kafka "$nd/server.properties"
}

wait_listening() {
  local dir="$1" hp
  IFS=, read -ra hps <"$dir/bootstrap"
  for hp in "${hps[@]}"; do
    local ok=0
    for _ in $(seq 1 600); do
      if (exec 3<>"/dev/tcp/${hp%:*}/${hp#*:}") 2>/dev/null; then
        ok=1
        break
      fi
      sleep 0.1
    done
    [ $ok -eq 1 ] || die "broker at $hp did not listen within 60 s (see $dir/node-*/)"
  done
}

start() {
  local dir="$1"
  shift
  config "$dir" "$@"
  dir="$(cd "$dir" && pwd)"
  local i
  for i in $(seq 1 "$(cat "$dir/nodes")"); do
    setsid "$0" run "$dir" "$i" >"$dir/node-$i/stdout.log" 2>&1 &
    echo $! >"$dir/node-$i/pid"
  done
  wait_listening "$dir"
  echo "kafka.sh: $(cat "$dir/nodes") node(s) up, bootstrap $(cat "$dir/bootstrap")" >&2
}

stop() {
  local dir="$1" f
  for f in "$dir"/node-*/pid; do
    [ -f "$f" ] || continue
    local pid
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
fetch) fetch ;;
config) [ $# -ge 1 ] || die "usage: config DIR [--nodes N] [--sasl-ssl]"; config "$@" ;;
run) [ $# -eq 2 ] || die "usage: run DIR NODE"; run "$@" ;;
start) [ $# -ge 1 ] || die "usage: start DIR [--nodes N] [--sasl-ssl]"; start "$@" ;;
stop) [ $# -eq 1 ] || die "usage: stop DIR"; stop "$@" ;;
*) sed -n '2,26p' "$0" >&2; exit 2 ;;
esac
