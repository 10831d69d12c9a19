//! The bare librdkafka producer (fill and limit-produce) and consumer (limit-consume).
//!
//! Records: key = 8-byte big-endian sequence number; value = the sequence number (8 bytes) then
//! filler text from a 16-letter alphabet (compresses like text, about 2:1 with zstd), padded to
//! the record size. Consecutive records take consecutive slices of a 16 MiB pool, so no batch
//! repeats itself (until 2026-11-25 the slices overlapped, and zstd batches compressed 19:1). Partition = murmur2(key), as Java's default partitioner, so a mirror that
//! re-partitions by key (MirrorMaker 1) puts every record in the partition it came from.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::BenchError;

const FILLER_LEN: usize = 16 << 20;

fn filler() -> Vec<u8> {
    // xorshift: deterministic, fast, no dependency.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..FILLER_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 16) as u8
        })
        .collect()
}

/// Where record `seq`'s filler starts in the pool: right after the previous record's.
fn filler_offset(seq: u64, size: usize) -> usize {
    let step = size.saturating_sub(8) as u64;
    ((seq * step) % (FILLER_LEN - size) as u64) as usize
}

#[derive(Default)]
struct DeliveryCounter {
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

struct CountingContext(Arc<DeliveryCounter>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.0.first_error.lock().unwrap_or_else(|p| p.into_inner());
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

pub struct ProduceSpec<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub records: u64,
    pub size: usize,
    pub compression: &'a str,
    pub timeout: Duration,
}

/// Writes `records` records and waits for every acknowledgement (acks=all). Returns seconds.
pub fn produce(spec: &ProduceSpec<'_>) -> Result<f64, BenchError> {
    let counter = Arc::new(DeliveryCounter::default());
    let producer: BaseProducer<CountingContext> = ClientConfig::new()
        .set("bootstrap.servers", spec.bootstrap)
        .set("client.id", "kafka-bench-producer")
        .set("acks", "all")
        .set("compression.type", spec.compression)
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("message.timeout.ms", "300000")
        .create_with_context(CountingContext(counter.clone()))
        .map_err(BenchError::kafka("producer"))?;
    let pool = filler();
    let start = Instant::now();
    let deadline = start + spec.timeout;
    let mut value = vec![0u8; spec.size];
    for seq in 0..spec.records {
        let key = seq.to_be_bytes();
        let seq_len = spec.size.min(8);
        value[..seq_len].copy_from_slice(&key[..seq_len]);
        if spec.size > 8 {
            let at = filler_offset(seq, spec.size);
            value[8..].copy_from_slice(&pool[at..at + spec.size - 8]);
        }
        let mut record = BaseRecord::to(spec.topic).key(&key[..]).payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    if Instant::now() > deadline {
                        return Err(BenchError::Timeout(format!(
                            "producing to {}: queue still full after {}",
                            spec.topic,
                            humantime::format_duration(spec.timeout)
                        )));
                    }
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(BenchError::Kafka(format!("send: {e}"))),
            }
        }
        if seq % 4096 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    producer
        .flush(left)
        .map_err(|e| BenchError::Timeout(format!("flush of {}: {e}", spec.topic)))?;
    let secs = start.elapsed().as_secs_f64();
    let failed = counter.failed.load(Ordering::Relaxed);
    let acked = counter.acked.load(Ordering::Relaxed);
    if failed > 0 || acked != spec.records {
        let first = counter
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default();
        return Err(BenchError::Kafka(format!(
            "{acked} of {} records acknowledged, {failed} failed (first error: {first})",
            spec.records
        )));
    }
    Ok(secs)
}

pub struct ConsumeSpec<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub partitions: i32,
    pub timeout: Duration,
}

/// What the consumer read, per partition: records, and an order-independent fingerprint of the
/// (key, value length, value head) of every record, so that two topics holding the same records
/// per partition (no loss, no duplicates, no corruption of the sequence numbers) compare equal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Consumed {
    pub records: Vec<u64>,
    pub fingerprints: Vec<u64>,
    pub bytes: u64,
    /// Seconds from the assignment to the last record (client start-up excluded).
    #[serde(default)]
    pub seconds: f64,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn record_fingerprint(key: Option<&[u8]>, value: Option<&[u8]>) -> u64 {
    let word = |b: Option<&[u8]>| {
        let b = b.unwrap_or_default();
        let mut w = [0u8; 8];
        let n = b.len().min(8);
        w[..n].copy_from_slice(&b[..n]);
        u64::from_be_bytes(w)
    };
    let len = value.map_or(u64::MAX, |v| v.len() as u64);
    splitmix64(word(key) ^ splitmix64(word(value) ^ splitmix64(len)))
}

/// Reads every partition from the beginning to the end offset it had at start; produces nothing.
pub fn consume(spec: &ConsumeSpec<'_>) -> Result<Consumed, BenchError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", spec.bootstrap)
        .set("client.id", "kafka-bench-consumer")
        .set("group.id", "kafka-bench-limit-consume")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        // librdkafka waits a whole second (its default) before fetching again once its
        // prefetch is full: with small records a bare consumer spent more time there than
        // reading, so it was no bound at all (kafka-mirror, which sets 10 ms, beat it by 60%).
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .map_err(BenchError::kafka("consumer"))?;
    let start = Instant::now();
    let deadline = start + spec.timeout;
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..spec.partitions {
        let (lo, hi) = consumer
            .fetch_watermarks(spec.topic, p, Duration::from_secs(10))
            .map_err(BenchError::kafka("end offsets"))?;
        ends.push(hi);
        if hi > lo {
            tpl.add_partition_offset(spec.topic, p, Offset::Beginning)
                .map_err(BenchError::kafka("assign"))?;
        }
    }
    consumer.assign(&tpl).map_err(BenchError::kafka("assign"))?;
    let mut records = vec![0u64; spec.partitions as usize];
    let mut fingerprints = vec![0u64; spec.partitions as usize];
    let mut next = vec![0i64; spec.partitions as usize];
    let mut bytes = 0u64;
    let mut done = (0..spec.partitions as usize)
        .filter(|&p| ends[p] <= 0)
        .count();
    while done < spec.partitions as usize {
        if Instant::now() > deadline {
            return Err(BenchError::Timeout(format!(
                "consuming {}: {done} of {} partitions at their end",
                spec.topic, spec.partitions
            )));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => return Err(BenchError::Kafka(format!("consume: {e}"))),
            Some(Ok(m)) => {
                let p = m.partition() as usize;
                records[p] += 1;
                fingerprints[p] =
                    fingerprints[p].wrapping_add(record_fingerprint(m.key(), m.payload()));
                bytes += m.payload().map_or(0, <[u8]>::len) as u64;
                let before = next[p];
                next[p] = m.offset() + 1;
                if before < ends[p] && next[p] >= ends[p] {
                    done += 1;
                }
            }
        }
    }
    Ok(Consumed {
        records,
        fingerprints,
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_is_text_from_sixteen_letters() {
        let f = filler();
        assert_eq!(f.len(), FILLER_LEN);
        assert!(f.iter().all(|b| (b'a'..b'a' + 16).contains(b)));
        assert_ne!(f[..64], f[64..128]);
    }

    #[test]
    fn consecutive_records_take_disjoint_filler() {
        // A producer batch (up to 1 MB) never holds the same filler twice.
        for size in [100, 1024] {
            let per_batch = 1_000_000 / size as u64 + 1;
            for seq in 0..per_batch {
                let (a, b) = (filler_offset(seq, size), filler_offset(seq + 1, size));
                assert_eq!(b, a + size - 8, "size {size}, record {seq}");
            }
        }
    }

    #[test]
    fn fingerprint_tells_records_apart() {
        let a = record_fingerprint(Some(&1u64.to_be_bytes()), Some(b"x"));
        let b = record_fingerprint(Some(&2u64.to_be_bytes()), Some(b"x"));
        let c = record_fingerprint(Some(&1u64.to_be_bytes()), Some(b"xy"));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a.wrapping_add(a), a.wrapping_add(b));
    }
}
