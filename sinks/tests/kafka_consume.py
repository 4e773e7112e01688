"""A second, independent Kafka client for the tests of the Kafka alert outlet (kafka-python,
pure Python): reads TOPIC from the beginning until it has N messages or TIMEOUT_S passed, and
prints one line per message like kcat -f '%k %s\\n': the key, a space, the value.

Run with: python kafka_consume.py BROKERS TOPIC N TIMEOUT_S
"""
import sys
import time

from kafka import KafkaConsumer

brokers, topic, want, timeout_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
consumer = KafkaConsumer(topic, bootstrap_servers=brokers, group_id=None, auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=500)
deadline = time.monotonic() + timeout_s
seen = 0
while seen < want and time.monotonic() < deadline:
    for m in consumer:
        sys.stdout.write(m.key.decode() + " " + m.value.decode() + "\n")
        seen += 1
        if seen >= want:
            break
sys.stdout.flush()
consumer.close()
