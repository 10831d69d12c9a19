//! Java client properties → librdkafka properties.
//!
//! What librdkafka understands passes through; renamed keys are translated; Java-only keys that
//! mean nothing to librdkafka are dropped with a warning; what cannot be honoured (JKS stores,
//! ZooKeeper, unsupported JAAS login modules) is an error that says what to do instead. Any other
//! key is an error naming it, since librdkafka would refuse to create the client anyway, later
//! and without saying which file the key came from.

use crate::librdkafka_properties::PROPERTIES;
use crate::secrets::display_value;

/// Which clients a librdkafka property applies to (CONFIGURATION.md's C/P column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Any,
    Consumer,
    Producer,
}

/// The kind of client a configuration is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Consumer,
    Producer,
}

impl Scope {
    pub fn applies_to(self, role: Role) -> bool {
        matches!(
            (self, role),
            (Scope::Any, _) | (Scope::Consumer, Role::Consumer) | (Scope::Producer, Role::Producer)
        )
    }
}

/// The scope of a librdkafka property, or `None` if librdkafka does not know it.
pub fn librdkafka_scope(key: &str) -> Option<Scope> {
    PROPERTIES
        .binary_search_by(|(name, _)| (*name).cmp(key))
        .ok()
        .map(|i| PROPERTIES[i].1)
}

/// Java keys renamed in librdkafka.
const RENAMED: &[(&str, &str)] = &[
    ("fetch.max.wait.ms", "fetch.wait.max.ms"),
    ("send.buffer.bytes", "socket.send.buffer.bytes"),
    ("receive.buffer.bytes", "socket.receive.buffer.bytes"),
    ("auto.commit.enable", "enable.auto.commit"),
    ("auto.commit.interval.ms", "auto.commit.interval.ms"),
    ("ssl.truststore.certificates", "ssl.ca.pem"),
    ("ssl.keystore.certificate.chain", "ssl.certificate.pem"),
    ("ssl.keystore.key", "ssl.key.pem"),
];

/// Java-only keys with no librdkafka meaning: dropped with a warning.
const JAVA_ONLY: &[&str] = &[
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "interceptor.classes",
    "partitioner.class",
    "partitioner.adaptive.partitioning.enable",
    "partitioner.availability.timeout.ms",
    "partitioner.ignore.keys",
    "max.poll.records",
    "buffer.memory",
    "block.on.buffer.full",
    "max.block.ms",
    "metric.reporters",
    "metrics.num.samples",
    "metrics.sample.window.ms",
    "metrics.recording.level",
    "auto.include.jmx.reporter",
    "default.api.timeout.ms",
    "exclude.internal.topics",
    "client.dns.lookup",
    "consumer.timeout.ms",
    "internal.leave.group.on.close",
    "metadata.max.idle.ms",
    "security.providers",
    "ssl.protocol",
    "ssl.enabled.protocols",
    "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm",
    "ssl.secure.random.implementation",
    "ssl.engine.factory.class",
    "ssl.truststore.password",
    "sasl.login.class",
    "sasl.login.callback.handler.class",
    "sasl.client.callback.handler.class",
    "sasl.login.refresh.window.factor",
    "sasl.login.refresh.window.jitter",
    "sasl.login.refresh.min.period.seconds",
    "sasl.login.refresh.buffer.seconds",
    "sasl.login.connect.timeout.ms",
    "sasl.login.read.timeout.ms",
    "sasl.login.retry.backoff.ms",
    "sasl.login.retry.backoff.max.ms",
    "sasl.kerberos.ticket.renew.window.factor",
    "sasl.kerberos.ticket.renew.jitter",
    "enable.metrics.push",
];

/// One translated librdkafka property with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translated {
    pub key: String,
    pub value: String,
    pub origin: String,
}

/// The result of translating one Java property.
#[derive(Debug, PartialEq, Eq)]
pub enum Translation {
    /// Zero or more librdkafka properties (a JAAS string gives two).
    Set(Vec<(String, String)>),
    /// Dropped, with the reason for the warning.
    Dropped(String),
}

/// Translates a whole set of Java properties (`(key, value, origin)`, in file order). Returns the
/// librdkafka properties and the warnings; the error names the origin and key at fault.
pub fn translate_all<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a str, String)>,
) -> Result<(Vec<Translated>, Vec<String>), crate::Error> {
    let entries: Vec<(&str, &str, String)> = entries.into_iter().collect();
    let lookup =
        |k: &str| -> Option<&'a str> { entries.iter().rev().find(|e| e.0 == k).map(|e| e.1) };
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (key, value, origin) in &entries {
        let translation =
            translate_one(key, value, &lookup).map_err(|message| crate::Error::Property {
                origin: origin.clone(),
                key: key.to_string(),
                message,
            })?;
        match translation {
            Translation::Set(pairs) => {
                out.extend(pairs.into_iter().map(|(key, value)| Translated {
                    key,
                    value,
                    origin: origin.clone(),
                }))
            }
            Translation::Dropped(reason) => warnings.push(format!(
                "{origin}: ignoring {}: {reason}",
                key.escape_debug()
            )),
        }
    }
    Ok((out, warnings))
}

/// Translates one property. `other` looks up another key of the same file (a store's type).
pub fn translate_one<'v>(
    key: &str,
    value: &str,
    other: &dyn Fn(&str) -> Option<&'v str>,
) -> Result<Translation, String> {
    let set = |k: &str, v: &str| Ok(Translation::Set(vec![(k.to_string(), v.to_string())]));
    match key {
        "zookeeper.connect" => {
            return Err(
                "ZooKeeper is not used any more: set bootstrap.servers to the brokers \
                        (HOST:PORT,...) instead"
                    .into(),
            )
        }
        k if k.starts_with("zookeeper.") => {
            return Ok(Translation::Dropped(
                "ZooKeeper settings are not used".into(),
            ))
        }
        "sasl.jaas.config" => return parse_jaas(value).map(Translation::Set),
        "partition.assignment.strategy" => {
            return translate_assignors(value).map(|v| Translation::Set(vec![(key.into(), v)]))
        }
        "ssl.endpoint.identification.algorithm" if value.is_empty() => {
            return set(key, "none");
        }
        "ssl.keystore.location" => {
            let kind = other("ssl.keystore.type").unwrap_or("");
            return match store_kind(kind, value) {
                StoreKind::Pkcs12 => set(key, value),
                StoreKind::Pem => set("ssl.certificate.location", value),
                StoreKind::Jks => Err(format!(
                    "JKS key stores are not supported by librdkafka; convert it to PKCS#12 with \
                     `keytool -importkeystore -srckeystore {} -destkeystore client.p12 \
                     -deststoretype PKCS12`, then set ssl.keystore.location=client.p12 and \
                     ssl.keystore.type=PKCS12 (or use ssl.certificate.location and \
                     ssl.key.location with PEM files)",
                    value.escape_debug()
                )),
            };
        }
        "ssl.truststore.location" => {
            let kind = other("ssl.truststore.type").unwrap_or("");
            return match store_kind(kind, value) {
                StoreKind::Pem => set("ssl.ca.location", value),
                _ => Err(format!(
                    "JKS and PKCS#12 trust stores are not supported by librdkafka; export the CA \
                     certificate as PEM with `keytool -exportcert -rfc -keystore {} -alias \
                     <ca-alias> -file ca.pem` and set ssl.ca.location=ca.pem",
                    value.escape_debug()
                )),
            };
        }
        // Read when translating the store locations above; nothing to pass on.
        "ssl.keystore.type" | "ssl.truststore.type" => return Ok(Translation::Set(Vec::new())),
        "ssl.keystore.password"
            if other("ssl.keystore.type").is_some_and(|t| t.eq_ignore_ascii_case("PEM")) =>
        {
            return Ok(Translation::Dropped(
                "not needed for a PEM key store".into(),
            ));
        }
        _ => {}
    }
    if let Some((_, new)) = RENAMED.iter().find(|(old, _)| *old == key) {
        return set(new, value);
    }
    if JAVA_ONLY.contains(&key) {
        return Ok(Translation::Dropped(
            "a Java client setting with no librdkafka equivalent".into(),
        ));
    }
    if librdkafka_scope(key).is_some() {
        return set(key, value);
    }
    Err(format!(
        "unknown property (neither a Java client property this toolkit translates nor a \
         librdkafka property; value '{}')",
        display_value(key, value).escape_debug()
    ))
}

enum StoreKind {
    Jks,
    Pkcs12,
    Pem,
}

fn store_kind(declared: &str, location: &str) -> StoreKind {
    let lower = location.to_ascii_lowercase();
    match declared.to_ascii_uppercase().as_str() {
        "PKCS12" => StoreKind::Pkcs12,
        "PEM" => StoreKind::Pem,
        "JKS" => StoreKind::Jks,
        _ if lower.ends_with(".p12") || lower.ends_with(".pfx") => StoreKind::Pkcs12,
        _ if lower.ends_with(".pem") || lower.ends_with(".crt") => StoreKind::Pem,
        // Kafka's default store type is JKS.
        _ => StoreKind::Jks,
    }
}

fn translate_assignors(value: &str) -> Result<String, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            let short = name.rsplit('.').next().unwrap_or(name);
            Ok(match short {
                "RangeAssignor" | "range" => "range",
                "RoundRobinAssignor" | "roundrobin" => "roundrobin",
                "CooperativeStickyAssignor" | "cooperative-sticky" => "cooperative-sticky",
                "StickyAssignor" => {
                    return Err(
                        "StickyAssignor (eager) is not available in librdkafka; use \
                         CooperativeStickyAssignor"
                            .to_string(),
                    )
                }
                other => return Err(format!("unknown partition assignor '{other}'")),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|names| names.join(","))
}

/// Parses the usual `sasl.jaas.config` forms into librdkafka's username and password. The
/// error never repeats the JAAS text, which holds a password.
fn parse_jaas(value: &str) -> Result<Vec<(String, String)>, String> {
    let text = value.trim();
    let module_end = text.find(char::is_whitespace).unwrap_or(text.len());
    let module = &text[..module_end];
    let short = module.rsplit('.').next().unwrap_or(module);
    match short {
        "PlainLoginModule" | "ScramLoginModule" => {}
        "Krb5LoginModule" => {
            return Err(
                "Kerberos JAAS login is not translated: set sasl.mechanism=GSSAPI, \
                        sasl.kerberos.keytab and sasl.kerberos.principal instead"
                    .into(),
            )
        }
        "OAuthBearerLoginModule" => {
            return Err(
                "OAUTHBEARER JAAS login is not translated: set sasl.mechanism=OAUTHBEARER \
                        and librdkafka's sasl.oauthbearer.* properties instead"
                    .into(),
            )
        }
        _ => {
            return Err("unsupported login module (supported: PlainLoginModule, \
                        ScramLoginModule); use sasl.username and sasl.password"
                .into())
        }
    }
    let mut rest = text[module_end..].trim_start();
    // The control flag: required, requisite, sufficient or optional.
    let flag_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let flag = rest[..flag_end].trim_end_matches(';');
    if !["required", "requisite", "sufficient", "optional"].contains(&flag) {
        return Err("malformed JAAS entry: expected a control flag such as 'required' after the login module".into());
    }
    rest = &rest[flag_end..];
    let mut username = None;
    let mut password = None;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with(';') {
            break;
        }
        let eq = rest
            .find('=')
            .ok_or("malformed JAAS entry: expected name=\"value\" options")?;
        let name = rest[..eq].trim();
        rest = rest[eq + 1..].trim_start();
        let option_value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => v.push(c),
                }
            }
            let end = end.ok_or("malformed JAAS entry: unterminated quoted value")?;
            option_value = v;
            rest = &quoted[end + 1..];
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(rest.len());
            option_value = rest[..end].to_string();
            rest = &rest[end..];
        }
        match name {
            "username" => username = Some(option_value),
            "password" => password = Some(option_value),
            _ => {}
        }
    }
    match (username, password) {
        (Some(u), Some(p)) => Ok(vec![
            ("sasl.username".to_string(), u),
            ("sasl.password".to_string(), p),
        ]),
        _ => Err("JAAS entry needs both username=\"...\" and password=\"...\"".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(key: &str, value: &str) -> Result<Translation, String> {
        translate_one(key, value, &|_| None)
    }

    fn set(pairs: &[(&str, &str)]) -> Translation {
        Translation::Set(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn property_table_is_sorted_for_binary_search() {
        assert!(PROPERTIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(librdkafka_scope("fetch.wait.max.ms"), Some(Scope::Consumer));
        assert_eq!(librdkafka_scope("acks"), Some(Scope::Producer));
        assert_eq!(librdkafka_scope("bootstrap.servers"), Some(Scope::Any));
        assert_eq!(librdkafka_scope("no.such.thing"), None);
    }

    #[test]
    fn passes_through_what_librdkafka_knows() {
        assert_eq!(one("acks", "all"), Ok(set(&[("acks", "all")])));
        assert_eq!(one("linger.ms", "5"), Ok(set(&[("linger.ms", "5")])));
        assert_eq!(
            one("security.protocol", "SASL_SSL"),
            Ok(set(&[("security.protocol", "SASL_SSL")]))
        );
    }

    #[test]
    fn renames() {
        assert_eq!(
            one("fetch.max.wait.ms", "100"),
            Ok(set(&[("fetch.wait.max.ms", "100")]))
        );
        assert_eq!(
            one("send.buffer.bytes", "1"),
            Ok(set(&[("socket.send.buffer.bytes", "1")]))
        );
        assert_eq!(
            one("receive.buffer.bytes", "1"),
            Ok(set(&[("socket.receive.buffer.bytes", "1")]))
        );
        assert_eq!(
            one("auto.commit.enable", "false"),
            Ok(set(&[("enable.auto.commit", "false")]))
        );
        assert_eq!(
            one("ssl.endpoint.identification.algorithm", ""),
            Ok(set(&[("ssl.endpoint.identification.algorithm", "none")]))
        );
    }

    #[test]
    fn drops_java_only_keys() {
        for key in [
            "key.serializer",
            "value.deserializer",
            "interceptor.classes",
            "partitioner.class",
            "max.poll.records",
            "buffer.memory",
            "block.on.buffer.full",
            "max.block.ms",
            "zookeeper.session.timeout.ms",
        ] {
            assert!(
                matches!(one(key, "x"), Ok(Translation::Dropped(_))),
                "{key}"
            );
        }
    }

    #[test]
    fn rejects_unknown_keys_without_leaking_secret_values() {
        let err = one("no.such.property", "v").unwrap_err();
        assert!(err.contains("unknown property"), "{err}");
        let err = one("my.password", "hunter2").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn rejects_zookeeper_and_jks() {
        assert!(one("zookeeper.connect", "zk:2181")
            .unwrap_err()
            .contains("bootstrap.servers"));
        let err = one("ssl.keystore.location", "/etc/kafka/client.jks").unwrap_err();
        assert!(err.contains("keytool -importkeystore"), "{err}");
        let err = one("ssl.truststore.location", "/etc/kafka/trust.jks").unwrap_err();
        assert!(err.contains("ssl.ca.location"), "{err}");
        // PKCS#12 key stores and PEM trust stores are fine.
        let pkcs12 = |k: &str| (k == "ssl.keystore.type").then_some("PKCS12");
        assert_eq!(
            translate_one("ssl.keystore.location", "/k/client.store", &pkcs12),
            Ok(set(&[("ssl.keystore.location", "/k/client.store")]))
        );
        let pem = |k: &str| (k == "ssl.truststore.type").then_some("PEM");
        assert_eq!(
            translate_one("ssl.truststore.location", "/k/ca.crt", &pem),
            Ok(set(&[("ssl.ca.location", "/k/ca.crt")]))
        );
    }

    #[test]
    fn store_types_are_used_silently() {
        assert_eq!(
            one("ssl.truststore.type", "PEM"),
            Ok(Translation::Set(Vec::new()))
        );
        assert_eq!(
            one("ssl.keystore.type", "PKCS12"),
            Ok(Translation::Set(Vec::new()))
        );
    }

    #[test]
    fn assignors() {
        assert_eq!(
            one(
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
            ),
            Ok(set(&[(
                "partition.assignment.strategy",
                "cooperative-sticky"
            )]))
        );
        assert_eq!(
            one("partition.assignment.strategy", "org.apache.kafka.clients.consumer.RangeAssignor, org.apache.kafka.clients.consumer.RoundRobinAssignor"),
            Ok(set(&[("partition.assignment.strategy", "range,roundrobin")]))
        );
        assert!(one("partition.assignment.strategy", "com.example.Mine").is_err());
    }

    #[test]
    fn jaas_plain_and_scram() {
        assert_eq!(
            one(
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="a\"b";"#
            ),
            Ok(set(&[
                ("sasl.username", "alice"),
                ("sasl.password", "a\"b")
            ]))
        );
        assert_eq!(
            one("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required\n username=bob\n password=\"pw\" ;"),
            Ok(set(&[("sasl.username", "bob"), ("sasl.password", "pw")]))
        );
    }

    #[test]
    fn jaas_errors_explain_and_do_not_leak() {
        let secret = "TopSecret123";
        let krb = format!("com.sun.security.auth.module.Krb5LoginModule required keyTab=\"/k\" password=\"{secret}\";");
        let err = one("sasl.jaas.config", &krb).unwrap_err();
        assert!(err.contains("GSSAPI") && !err.contains(secret), "{err}");
        let err = one("sasl.jaas.config", &format!("org.apache.kafka.common.security.plain.PlainLoginModule required password=\"{secret}\";")).unwrap_err();
        assert!(err.contains("username") && !err.contains(secret), "{err}");
        let err = one("sasl.jaas.config", &format!("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"{secret}")).unwrap_err();
        assert!(
            err.contains("unterminated") && !err.contains(secret),
            "{err}"
        );
        assert!(one("sasl.jaas.config", "x.Custom required;")
            .unwrap_err()
            .contains("unsupported login module"));
    }

    #[test]
    fn translate_all_reports_origin() {
        let entries = vec![
            ("bootstrap.servers", "h:1", "c.properties:1".to_string()),
            ("key.deserializer", "x", "c.properties:2".to_string()),
            ("bogus", "x", "c.properties:3".to_string()),
        ];
        let err = translate_all(entries.clone()).unwrap_err().to_string();
        assert_eq!(err, "c.properties:3: bogus: unknown property (neither a Java client property this toolkit translates nor a librdkafka property; value 'x')");
        let (out, warnings) = translate_all(entries.into_iter().take(2)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(warnings, vec!["c.properties:2: ignoring key.deserializer: a Java client setting with no librdkafka equivalent".to_string()]);
    }
}
