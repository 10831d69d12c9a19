//! Every tool over SASL_SSL against the secure clusters (`bin/kafka-local up --secure`, or
//! `bin/test`): TLS with the test CA, SCRAM-SHA-512 and PLAIN users, the standard authorizer and
//! the ACLs that `bin/kafka-local` creates (see docs/secure.md):
//!
//! - mirror-reader (source): READ+DESCRIBE on topics and groups `secure-`, DESCRIBE_CONFIGS on
//!   topics `secure-` (to create target topics with the source's configs), READ denied on
//!   `secure-noread-`, DESCRIBE_CONFIGS denied on `secure-nodc-`; mirror-writer (target): WRITE+DESCRIBE+CREATE on topics `secure-`, WRITE
//!   denied on `secure-nowrite-`, CREATE denied on `secure-nocreate-`; lag-checker (source):
//!   DESCRIBE on topics and groups `secure-`; plain-user (both, SASL PLAIN): DESCRIBE and
//!   DESCRIBE_CONFIGS on topics `secure-`; admin: super user.
//!
//! Setup and verification use rdkafka clients as admin over SASL_SSL. Every captured output of
//! every tool run is searched for every password.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use e2e_tests::{bin, repo_root, run_with_timeout, unique, Run, TestRecord};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Bound on every tool run that is expected to fail: a retry loop would hit it.
const FAIL_WITHIN: Duration = Duration::from_secs(90);

/// The secure clusters and the files `bin/kafka-local up --secure` generated.
struct Secure {
    dir: PathBuf,
    source: String,
    target: String,
    /// user → password, including the wrong one of `*-wrong-password.properties`.
    passwords: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Source,
    Target,
}

fn secure() -> &'static Secure {
    static SECURE: OnceLock<Secure> = OnceLock::new();
    SECURE.get_or_init(|| {
        let how = "start them with `bin/kafka-local up --secure` (then `eval \"$(bin/kafka-local env)\"`), \
                   or run every test with `bin/test`";
        let dir = std::env::var_os("KAFKA_SECURE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".kafka-local/secure"));
        let env_file = dir.join("passwords.env");
        let text = std::fs::read_to_string(&env_file).unwrap_or_else(|e| {
            panic!(
                "secure clusters not set up: cannot read {} ({e}): {how}",
                env_file.display()
            )
        });
        let mut passwords = BTreeMap::new();
        for line in text.lines() {
            if let Some((var, value)) = line
                .strip_prefix("export KAFKA_SECURE_")
                .and_then(|l| l.split_once('='))
            {
                let user = var
                    .trim_end_matches("_PASSWORD")
                    .to_ascii_lowercase()
                    .replace('_', "-");
                passwords.insert(user, value.to_string());
            }
        }
        let wrong = std::fs::read_to_string(dir.join("clients/source-wrong-password.properties"))
            .expect("source-wrong-password.properties");
        let wrong = wrong
            .split("password=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a password in source-wrong-password.properties");
        passwords.insert("wrong".into(), wrong.to_string());
        for user in ["admin", "mirror-reader", "mirror-writer", "lag-checker", "plain-user"] {
            assert!(
                passwords.contains_key(user),
                "no password for {user} in {}",
                env_file.display()
            );
        }
        let secure = Secure {
            dir,
            source: std::env::var("KAFKA_SECURE_SOURCE_BOOTSTRAP")
                .unwrap_or_else(|_| "127.0.0.1:19294".into()),
            target: std::env::var("KAFKA_SECURE_TARGET_BOOTSTRAP")
                .unwrap_or_else(|_| "127.0.0.1:29294".into()),
            passwords,
        };
        for side in [Side::Source, Side::Target] {
            let admin: AdminClient<DefaultClientContext> =
                secure.config(side, "admin").create().expect("admin client");
            if let Err(e) = admin
                .inner()
                .fetch_metadata(None, Duration::from_secs(15))
            {
                panic!(
                    "secure {side:?} cluster not reachable over SASL_SSL at {} as admin ({e}): {how}",
                    secure.bootstrap(side)
                );
            }
        }
        secure
    })
}

impl Secure {
    fn bootstrap(&self, side: Side) -> &str {
        match side {
            Side::Source => &self.source,
            Side::Target => &self.target,
        }
    }

    /// An rdkafka config for `user` (SCRAM-SHA-512) over SASL_SSL.
    fn config(&self, side: Side, user: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.bootstrap(side))
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", user)
            .set("sasl.password", &self.passwords[user])
            .set("ssl.ca.location", self.dir.join("ca.pem").to_str().unwrap());
        c
    }

    /// A generated client properties file, e.g. `source-mirror-reader`.
    fn props(&self, name: &str) -> PathBuf {
        let p = self.dir.join("clients").join(format!("{name}.properties"));
        assert!(
            p.exists(),
            "{} missing: re-run `bin/kafka-local up --secure`",
            p.display()
        );
        p
    }

    /// Asserts that no password (nor the wrong one) appears in `text`.
    fn assert_no_secret(&self, what: &str, text: &str) {
        for (user, password) in &self.passwords {
            assert!(
                !text.contains(password.as_str()),
                "the password of {user} appears in {what}:\n{text}"
            );
        }
    }

    fn check_run(&self, what: &str, run: &Run) {
        self.assert_no_secret(&format!("stdout of {what}"), &run.stdout);
        self.assert_no_secret(&format!("stderr of {what}"), &run.stderr);
    }

    fn admin(&self, side: Side) -> AdminClient<DefaultClientContext> {
        self.config(side, "admin").create().expect("admin client")
    }

    fn create_topic(&self, side: Side, topic: &str, partitions: i32) {
        let admin = self.admin(side);
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1))
            .set("cleanup.policy", "delete");
        let results = runtime()
            .block_on(admin.create_topics(
                [&new],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
            ))
            .expect("create_topics");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t} on {side:?}: {e}"));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.partition_count(side, topic) != Some(partitions) {
            assert!(
                Instant::now() < deadline,
                "topic {topic} not ready on {side:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn partition_count(&self, side: Side, topic: &str) -> Option<i32> {
        let md = self
            .admin(side)
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        md.topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len() as i32)
    }

    /// Produces `n` records per partition as admin: key `k<p>-<i>`, value `v<p>-<i>`.
    fn produce(&self, side: Side, topic: &str, partitions: i32, n: usize) -> Vec<TestRecord> {
        let producer: ThreadedProducer<DefaultProducerContext> = self
            .config(side, "admin")
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .create()
            .expect("producer");
        let mut records = Vec::new();
        for p in 0..partitions {
            for i in 0..n {
                let r = TestRecord::new(p, &format!("k{p}-{i}"), &format!("v{p}-{i}"));
                producer
                    .send(
                        BaseRecord::to(topic)
                            .partition(p)
                            .key(r.key.as_deref().unwrap())
                            .payload(r.value.as_deref().unwrap()),
                    )
                    .map_err(|(e, _)| e)
                    .expect("send");
                records.push(r);
            }
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
        for p in 0..partitions {
            assert_eq!(
                self.high_watermark(side, topic, p),
                n as i64,
                "produced to p{p}"
            );
        }
        records
    }

    fn high_watermark(&self, side: Side, topic: &str, partition: i32) -> i64 {
        let consumer: BaseConsumer = self
            .config(side, "admin")
            .set("group.id", unique("secure-wm"))
            .create()
            .expect("consumer");
        consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .expect("watermarks")
            .1
    }

    /// Every record of `topic` as (partition, key, value), in partition then offset order.
    fn read_all(&self, side: Side, topic: &str) -> Vec<(i32, String, String)> {
        let partitions = self.partition_count(side, topic).expect("topic exists");
        let marks: Vec<(i32, i64)> = (0..partitions)
            .map(|p| (p, self.high_watermark(side, topic, p)))
            .collect();
        let consumer: BaseConsumer = self
            .config(side, "admin")
            .set("group.id", unique("secure-reader"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for (p, _) in &marks {
            tpl.add_partition_offset(topic, *p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).expect("assign");
        let total: i64 = marks.iter().map(|(_, hi)| hi).sum();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while (out.len() as i64) < total {
            assert!(
                Instant::now() < deadline,
                "reading {topic}: got {} of {total}",
                out.len()
            );
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.expect("consume");
                let text =
                    |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                out.push((m.partition(), text(m.key()), text(m.payload())));
            }
        }
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        out
    }

    /// Commits offsets for `group` as admin: (partition, offset).
    fn commit(&self, side: Side, group: &str, topic: &str, offsets: &[(i32, i64)]) {
        let consumer: BaseConsumer = self
            .config(side, "admin")
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for (p, o) in offsets {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
                .unwrap();
        }
        consumer.commit(&tpl, CommitMode::Sync).expect("commit");
    }

    /// The committed offsets of `group` (read as admin over SASL_SSL); None where there is none.
    fn committed(&self, side: Side, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        e2e_tests::committed_offsets(self.config(side, "admin"), group, topic, partitions)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A copy of a generated properties file with extra lines (e.g. group.id).
fn with_extra(dir: &Path, base: &Path, name: &str, extra: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(base).expect("reading generated properties");
    for (k, v) in extra {
        text.push_str(&format!("{k}={v}\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs a tool (with `env`) and checks its output for secrets.
fn run_tool(name: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Run {
    let s = secure();
    let mut cmd = Command::new(bin(name));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = run_with_timeout(cmd, timeout);
    s.check_run(&format!("{name} {args:?}"), &run);
    run
}

fn mirror_args<'a>(consumer: &'a Path, producer: &'a Path, include: &'a str) -> Vec<&'a str> {
    vec![
        "--consumer.config",
        consumer.to_str().unwrap(),
        "--producer.config",
        producer.to_str().unwrap(),
        "--include",
        include,
        "--no-progress",
        "--connect-timeout",
        "10s",
    ]
}

/// The one `TOOL: error: ...` line a failed run ends with (empty if there is none).
fn error_line(run: &Run) -> String {
    run.stderr
        .lines()
        .rev()
        .find(|l| l.contains(": error: "))
        .unwrap_or_default()
        .to_string()
}

fn lower(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr).to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn lag_check_over_sasl_ssl_as_lag_checker_java_librdkafka_and_env_forms() {
    let s = secure();
    let topic = unique("secure-lag");
    let group = unique("secure-g");
    s.create_topic(Side::Source, &topic, 2);
    s.produce(Side::Source, &topic, 2, 5);
    s.commit(Side::Source, &group, &topic, &[(0, 5), (1, 1)]);

    let read_password = s.passwords["mirror-reader"].clone();
    let forms: [(PathBuf, Vec<(&str, &str)>); 3] = [
        (s.props("source-lag-checker"), vec![]),
        (s.props("source-lag-checker-librdkafka"), vec![]),
        (
            s.props("source-mirror-reader-env"),
            vec![(
                "KAFKA_SECURE_MIRROR_READER_PASSWORD",
                read_password.as_str(),
            )],
        ),
    ];
    for (config, env) in &forms {
        let started = Instant::now();
        let run = run_tool(
            "kafka-lag-check",
            &[
                "--command-config",
                config.to_str().unwrap(),
                "--group",
                &group,
                "--format",
                "json",
                "--timeout",
                "20s",
            ],
            env,
            Duration::from_secs(60),
        );
        let took = started.elapsed();
        assert_eq!(run.code, Some(0), "{config:?}: {run:?}");
        let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
        let g = &json["groups"][0];
        assert_eq!(g["group"], group.as_str(), "{json}");
        assert_eq!(g["total_lag"], 4, "{json}");
        // lag-checker may DESCRIBE but not READ: the time lag is unknown at once (a refused
        // fetch is final), not after waiting out --timeout on every check.
        assert!(
            took < Duration::from_secs(10),
            "{config:?}: took {took:?} (--timeout 20s): {run:?}"
        );
    }

    // The env form without the variable: a clear error naming it, not a connection attempt.
    let run = run_tool(
        "kafka-lag-check",
        &[
            "--command-config",
            s.props("source-mirror-reader-env").to_str().unwrap(),
            "--group",
            &group,
        ],
        &[],
        Duration::from_secs(60),
    );
    assert_ne!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("KAFKA_SECURE_MIRROR_READER_PASSWORD"),
        "{run:?}"
    );
}

#[test]
fn lag_check_as_a_user_without_acls_reports_authorization_failure() {
    let s = secure();
    let topic = unique("secure-lagacl");
    let group = unique("secure-g");
    s.create_topic(Side::Source, &topic, 1);
    s.commit(Side::Source, &group, &topic, &[(0, 0)]);
    let run = run_tool(
        "kafka-lag-check",
        &[
            "--command-config",
            s.props("source-no-acl").to_str().unwrap(),
            "--group",
            &group,
            "--timeout",
            "30s",
        ],
        &[],
        FAIL_WITHIN,
    );
    assert_eq!(run.code, Some(3), "UNKNOWN expected: {run:?}");
    assert!(
        error_line(&run).to_ascii_lowercase().contains("authoriz"),
        "no authorization error: {run:?}"
    );
}

#[test]
fn topic_sync_and_parity_over_sasl_ssl_scram_and_plain() {
    let s = secure();
    let topic = unique("secure-sync");
    s.create_topic(Side::Source, &topic, 3);
    let include = topic.clone();
    let admin_src = s.props("source-admin");
    let admin_tgt = s.props("target-admin-librdkafka");
    let plain_src = s.props("source-plain");
    let plain_tgt = s.props("target-plain");

    // PLAIN user (DESCRIBE + DESCRIBE_CONFIGS only): the missing target topic is a difference.
    let parity = || {
        let run = run_tool(
            "kafka-topic-parity",
            &[
                "--source-config",
                plain_src.to_str().unwrap(),
                "--target-config",
                plain_tgt.to_str().unwrap(),
                "--include",
                &include,
                "--format",
                "json",
            ],
            &[],
            Duration::from_secs(60),
        );
        run
    };
    let before = parity();
    assert_eq!(before.code, Some(1), "differences expected: {before:?}");
    assert!(before.stdout.contains(&topic), "{before:?}");

    let plan = run_tool(
        "kafka-topic-sync",
        &[
            "--source-config",
            admin_src.to_str().unwrap(),
            "--target-config",
            admin_tgt.to_str().unwrap(),
            "--include",
            &include,
            "--format",
            "json",
        ],
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(plan.code, Some(0), "{plan:?}");
    assert!(plan.stdout.contains(&topic), "{plan:?}");
    assert_eq!(
        s.partition_count(Side::Target, &topic),
        None,
        "dry run created it"
    );

    let apply = run_tool(
        "kafka-topic-sync",
        &[
            "--source-config",
            admin_src.to_str().unwrap(),
            "--target-config",
            admin_tgt.to_str().unwrap(),
            "--include",
            &include,
            "--apply",
        ],
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(apply.code, Some(0), "{apply:?}");
    assert_eq!(s.partition_count(Side::Target, &topic), Some(3));
    let after = parity();
    assert_eq!(after.code, Some(0), "parity expected after sync: {after:?}");
}

#[test]
fn two_principal_mirror_creates_the_target_topic_with_metrics() {
    let s = secure();
    let topic = unique("secure-mm");
    let group = unique("secure-g");
    s.create_topic(Side::Source, &topic, 2);
    let produced = s.produce(Side::Source, &topic, 2, 10);
    let dir = tempfile::tempdir().unwrap();
    let consumer = with_extra(
        dir.path(),
        &s.props("source-mirror-reader"),
        "consumer.properties",
        &[("group.id", &group)],
    );
    let producer = s.props("target-mirror-writer");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let include = topic.clone();
    let mut args = mirror_args(&consumer, &producer, &include);
    args.extend([
        "--metrics-addr",
        addr.as_str(),
        "--offset.commit.interval.ms",
        "500",
    ]);
    let mut child = Command::new(bin("kafka-mirror"))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kafka-mirror");

    // Wait until every record is committed, scraping the metrics endpoint on the way.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut metrics = String::new();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = collect(&mut child);
            panic!("kafka-mirror exited early ({status}):\n{out}");
        }
        if let Some(text) = http_get(&addr, "/metrics") {
            metrics = text;
        }
        if s.committed(Side::Source, &group, &topic, 2) == vec![Some(10), Some(10)] {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "mirror did not commit everything in 90 s:\n{}",
                collect(&mut child)
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    if let Some(text) = http_get(&addr, "/metrics") {
        metrics = text;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        assert!(Instant::now() < deadline, "mirror did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = collect(&mut child);
    s.assert_no_secret("kafka-mirror output", &out);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        metrics.contains("kafka_mirror_records_total"),
        "metrics:\n{metrics}"
    );
    s.assert_no_secret("the metrics endpoint", &metrics);

    // Created by the mirror as mirror-writer (CREATE on `secure-`), same partitions, same records.
    assert_eq!(s.partition_count(Side::Target, &topic), Some(2));
    let want: Vec<(i32, String, String)> = produced
        .iter()
        .map(|r| {
            let t = |b: &Option<Vec<u8>>| String::from_utf8(b.clone().unwrap()).unwrap();
            (r.partition, t(&r.key), t(&r.value))
        })
        .collect();
    let mut want = want;
    want.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    assert_eq!(s.read_all(Side::Target, &topic), want);
}

#[test]
fn two_principal_mirror_into_an_existing_topic_with_env_password() {
    let s = secure();
    let topic = unique("secure-mmenv");
    let group = unique("secure-g");
    s.create_topic(Side::Source, &topic, 1);
    s.produce(Side::Source, &topic, 1, 5);
    // Target topic made beforehand (as topic-sync would): this test is about the data path with
    // the two principals; creation through mirror-writer's CREATE is the test above.
    s.create_topic(Side::Target, &topic, 1);
    let dir = tempfile::tempdir().unwrap();
    let consumer = with_extra(
        dir.path(),
        &s.props("source-mirror-reader-env"),
        "consumer.properties",
        &[("group.id", &group)],
    );
    let producer = s.props("target-mirror-writer-librdkafka");
    let include = topic.clone();
    let mut args = mirror_args(&consumer, &producer, &include);
    args.push("--until-caught-up");
    let password = s.passwords["mirror-reader"].clone();
    let run = run_tool(
        "kafka-mirror",
        &args,
        &[("KAFKA_SECURE_MIRROR_READER_PASSWORD", &password)],
        Duration::from_secs(120),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(s.high_watermark(Side::Target, &topic, 0), 5);
    assert_eq!(s.committed(Side::Source, &group, &topic, 1), vec![Some(5)]);
}

#[test]
fn wrong_password_fails_fast_with_a_clear_error_in_every_tool() {
    let s = secure();
    let topic = unique("secure-wrong");
    s.create_topic(Side::Source, &topic, 1);
    let wrong_src = s.props("source-wrong-password");
    let wrong_tgt = s.props("target-wrong-password");
    let good_src = s.props("source-admin");
    let admin_tgt = s.props("target-admin");
    let writer = s.props("target-mirror-writer");
    let dir = tempfile::tempdir().unwrap();
    let group = unique("secure-g");
    let consumer_wrong = with_extra(
        dir.path(),
        &wrong_src,
        "c.properties",
        &[("group.id", &group)],
    );
    let consumer_good = with_extra(
        dir.path(),
        &s.props("source-mirror-reader"),
        "c2.properties",
        &[("group.id", &group)],
    );
    let include = topic.clone();
    let mut mirror_consumer_wrong = mirror_args(&consumer_wrong, &writer, &include);
    mirror_consumer_wrong.push("--until-caught-up");
    let mut mirror_producer_wrong = mirror_args(&consumer_good, &wrong_tgt, &include);
    mirror_producer_wrong.push("--until-caught-up");
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "kafka-lag-check",
            vec![
                "--command-config",
                wrong_src.to_str().unwrap(),
                "--group",
                &group,
            ],
        ),
        (
            "kafka-topic-parity",
            vec![
                "--source-config",
                wrong_src.to_str().unwrap(),
                "--target-config",
                admin_tgt.to_str().unwrap(),
                "--include",
                &include,
                "--timeout",
                "10s",
            ],
        ),
        (
            "kafka-topic-sync",
            vec![
                "--source-config",
                good_src.to_str().unwrap(),
                "--target-config",
                wrong_tgt.to_str().unwrap(),
                "--include",
                &include,
                "--timeout",
                "10s",
            ],
        ),
        ("kafka-mirror", mirror_consumer_wrong),
        ("kafka-mirror", mirror_producer_wrong),
    ];
    for (tool, args) in runs {
        let started = Instant::now();
        let run = run_tool(tool, &args, &[], FAIL_WITHIN);
        assert!(
            matches!(run.code, Some(c) if c != 0),
            "{tool} {args:?} should fail: {run:?}"
        );
        let text = lower(&run);
        assert!(
            text.contains("authentication") || text.contains("invalid credentials"),
            "{tool}: no authentication error: {run:?}"
        );
        eprintln!(
            "{tool}: failed in {:?} with exit {:?}",
            started.elapsed(),
            run.code
        );
    }
    assert_eq!(s.committed(Side::Source, &group, &topic, 1), vec![None]);
}

/// Runs the mirror (`--until-caught-up`) expecting a failure naming an authorization problem;
/// returns its output (checked for secrets).
fn mirror_expecting_denial(consumer: &Path, producer: &Path, topic: &str) -> Run {
    let include = topic.to_string();
    let mut args = mirror_args(consumer, producer, &include);
    args.extend(["--until-caught-up", "--offset.commit.interval.ms", "500"]);
    let run = run_tool("kafka-mirror", &args, &[], FAIL_WITHIN);
    assert!(
        matches!(run.code, Some(c) if c != 0),
        "the mirror should fail: {run:?}"
    );
    assert!(
        error_line(&run).to_ascii_lowercase().contains("authoriz"),
        "no authorization error: {run:?}"
    );
    eprintln!(
        "kafka-mirror on {topic}: exit {:?}: {}",
        run.code,
        run.stderr.trim()
    );
    run
}

/// One missing-ACL case: a one-partition source topic holding `records` records (created on the
/// target too when `on_target`), and the mirror reader's consumer config for a fresh group. The
/// name prefixes pick the ACLs that bin/kafka-local grants (or leaves out).
struct DenialCase {
    topic: String,
    group: String,
    consumer: PathBuf,
    _dir: tempfile::TempDir,
}

fn denial_case(
    s: &Secure,
    topic_prefix: &str,
    group_prefix: &str,
    records: usize,
    on_target: bool,
) -> DenialCase {
    let topic = unique(topic_prefix);
    let group = unique(group_prefix);
    s.create_topic(Side::Source, &topic, 1);
    s.produce(Side::Source, &topic, 1, records);
    if on_target {
        s.create_topic(Side::Target, &topic, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let consumer = with_extra(
        dir.path(),
        &s.props("source-mirror-reader"),
        "c.properties",
        &[("group.id", &group)],
    );
    DenialCase {
        topic,
        group,
        consumer,
        _dir: dir,
    }
}

/// The error line names `what` (case-insensitive when `what` is lower case).
fn assert_error_names(run: &Run, what: &str, meaning: &str) {
    let line = error_line(run);
    let found = if what.chars().any(char::is_uppercase) {
        line.contains(what)
    } else {
        line.to_ascii_lowercase().contains(what)
    };
    assert!(found, "the error should name {meaning} ({what}): {run:?}");
}

#[test]
fn mirror_reader_without_read_on_the_topic_fails_and_commits_nothing() {
    let s = secure();
    // On the target too, so that the first refusal is the READ.
    let c = denial_case(s, "secure-noread-t", "secure-g", 3, true);
    let run = mirror_expecting_denial(&c.consumer, &s.props("target-mirror-writer"), &c.topic);
    assert_error_names(&run, &c.topic, "the topic");
    assert_error_names(&run, "read", "READ");
    assert_eq!(s.committed(Side::Source, &c.group, &c.topic, 1), vec![None]);
    assert_eq!(s.high_watermark(Side::Target, &c.topic, 0), 0);
}

#[test]
fn mirror_reader_without_read_on_the_group_fails_and_commits_nothing() {
    let s = secure();
    // On the target too, so that the first refusal is the group's.
    let c = denial_case(s, "secure-nogroup", "secure-noread-g", 3, true);
    let run = mirror_expecting_denial(&c.consumer, &s.props("target-mirror-writer"), &c.topic);
    assert_error_names(&run, &c.group, "the group");
    assert_eq!(s.committed(Side::Source, &c.group, &c.topic, 1), vec![None]);
    assert_eq!(s.high_watermark(Side::Target, &c.topic, 0), 0);
}

#[test]
fn mirror_writer_without_write_fails_and_commits_nothing() {
    let s = secure();
    let c = denial_case(s, "secure-nowrite", "secure-g", 3, true);
    let run = mirror_expecting_denial(&c.consumer, &s.props("target-mirror-writer"), &c.topic);
    assert_error_names(&run, &c.topic, "the topic");
    assert_eq!(s.high_watermark(Side::Target, &c.topic, 0), 0);
    let committed = s.committed(Side::Source, &c.group, &c.topic, 1);
    assert!(
        committed == vec![None] || committed == vec![Some(0)],
        "committed {committed:?} without writing anything"
    );
}

#[test]
fn mirror_writer_without_create_fails_and_commits_nothing() {
    let s = secure();
    let c = denial_case(s, "secure-nocreate", "secure-g", 3, false);
    let run = mirror_expecting_denial(&c.consumer, &s.props("target-mirror-writer"), &c.topic);
    assert_error_names(&run, &c.topic, "the topic");
    assert_error_names(&run, "creat", "create");
    assert_eq!(s.partition_count(Side::Target, &c.topic), None);
    assert_eq!(s.committed(Side::Source, &c.group, &c.topic, 1), vec![None]);
}

#[test]
fn mirror_reader_without_describe_configs_cannot_create_but_mirrors_into_an_existing_topic() {
    let s = secure();
    let c = denial_case(s, "secure-nodc", "secure-g", 4, false);
    let writer = s.props("target-mirror-writer");
    let run = mirror_expecting_denial(&c.consumer, &writer, &c.topic);
    assert_error_names(&run, &c.topic, "the topic");
    let line = error_line(&run).to_ascii_lowercase();
    assert!(
        line.contains("describeconfigs") || line.contains("describe_configs"),
        "the error should name DescribeConfigs: {run:?}"
    );
    assert_eq!(s.partition_count(Side::Target, &c.topic), None);
    assert_eq!(s.committed(Side::Source, &c.group, &c.topic, 1), vec![None]);

    // READ and DESCRIBE are enough once the target topic exists.
    s.create_topic(Side::Target, &c.topic, 1);
    let include = c.topic.clone();
    let mut args = mirror_args(&c.consumer, &writer, &include);
    args.push("--until-caught-up");
    let run = run_tool("kafka-mirror", &args, &[], Duration::from_secs(120));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(s.high_watermark(Side::Target, &c.topic, 0), 4);
    assert_eq!(
        s.committed(Side::Source, &c.group, &c.topic, 1),
        vec![Some(4)]
    );
}

#[test]
fn help_and_version_show_no_secret_even_with_password_variables_set() {
    let s = secure();
    let password = s.passwords["mirror-reader"].clone();
    for tool in [
        "kafka-lag-check",
        "kafka-topic-parity",
        "kafka-topic-sync",
        "kafka-mirror",
    ] {
        for flag in ["--help", "--version"] {
            let run = run_tool(
                tool,
                &[flag],
                &[("KAFKA_SECURE_MIRROR_READER_PASSWORD", &password)],
                Duration::from_secs(30),
            );
            assert_eq!(run.code, Some(0), "{tool} {flag}: {run:?}");
        }
    }
}

fn collect(child: &mut Child) -> String {
    use std::io::Read;
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut out);
    }
    out
}

/// A plain HTTP/1.0 GET; the body, or None if the endpoint does not answer (yet).
fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}
