#!/usr/bin/env bash
# Question: how many alerts/s does the Kafka alert outlet deliver to a broker (every alert synced
# to the durable outbox first, idempotent producer, acks=all), and how fast does the outbox drain
# once the broker is back after an outage (alerts kept coming during it)?
# Broker: Tansu 0.6.0 on loopback with in-memory storage (scripts/servers/tansu.sh install).
#
# Run with: bench/alerts_kafka.sh            (60 s outage at 1000 alerts/s, burst of 100000)
#           bench/alerts_kafka.sh --quick    (5 s outage, burst of 20000)
#           ALERTS=N OUTAGE_S=S OUTAGE_RATE=R bench/alerts_kafka.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ALERTS=${ALERTS:-100000}; OUTAGE_S=${OUTAGE_S:-60}; OUTAGE_RATE=${OUTAGE_RATE:-1000}
if [ "${1:-}" = "--quick" ]; then ALERTS=20000; OUTAGE_S=5; fi

tansu=$(bash scripts/servers/tansu.sh install)
nice cargo build --release -q -p itscam-bench --bin alerts-kafka
"${CARGO_TARGET_DIR:-target}"/release/alerts-kafka --tansu "$tansu" --alerts "$ALERTS" --outage-s "$OUTAGE_S" --outage-rate "$OUTAGE_RATE"
