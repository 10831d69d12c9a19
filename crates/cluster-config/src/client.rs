//! Client settings and builders: a properties file (providers resolved, Java keys translated)
//! plus command-line overrides, turned into an admin, consumer or producer client.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::KafkaError;

use crate::error::Error;
use crate::properties::PropertiesFile;
use crate::secrets::{display_value, is_sensitive, resolve_providers, REDACTED};
use crate::translate::{librdkafka_scope, translate_all, Role, Scope};

/// The shared connection options of the single-cluster tools.
#[derive(clap::Args, Clone, Debug, Default)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// Brokers to bootstrap from.
    #[arg(
        long = "bootstrap-server",
        visible_alias = "bootstrap-servers",
        value_name = "HOST:PORT,..."
    )]
    pub bootstrap_server: Option<String>,
    /// Client properties file (Java or librdkafka keys): TLS, SASL, client.id, ...
    #[arg(long = "command-config", value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// Extra client property, repeatable; overrides the file.
    #[arg(long = "property", short = 'X', value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
}

impl ConnectionArgs {
    /// Resolves the options into settings for the cluster called `label` in messages.
    pub fn settings(&self, label: &str) -> Result<ClientSettings, Error> {
        ClientSettings::from_parts(
            label,
            self.command_config.as_deref(),
            self.bootstrap_server
                .as_deref()
                .map(|b| (b, "--bootstrap-server")),
            &self.properties,
        )
    }
}

/// One librdkafka property and where it came from (`file:line`, a flag, or a tool default).
#[derive(Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    pub origin: String,
}

/// Translated librdkafka settings for one cluster. Debug output redacts secrets.
#[derive(Clone)]
pub struct ClientSettings {
    label: String,
    entries: BTreeMap<String, Setting>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (k, s) in &self.entries {
            map.entry(k, &display_value(k, &s.value));
        }
        map.finish()
    }
}

impl ClientSettings {
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_string(),
            entries: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Loads `path`: parses it, resolves `${env:..}`/`${file:..}` references, translates Java
    /// keys. Errors name the file and line.
    pub fn from_file(label: &str, path: &Path) -> Result<Self, Error> {
        let mut file = PropertiesFile::load(path)?;
        resolve_providers(&mut file)?;
        let mut settings = Self::new(label);
        let entries = file
            .entries
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str(), file.origin(p)));
        let (translated, warnings) = translate_all(entries)?;
        for t in translated {
            settings.entries.insert(
                t.key,
                Setting {
                    value: t.value,
                    origin: t.origin,
                },
            );
        }
        settings.warnings = warnings;
        settings.normalise_bootstrap_alias();
        Ok(settings)
    }

    /// A file (optional), a bootstrap flag (optional, with the flag's name) and `KEY=VALUE`
    /// overrides. A bootstrap flag that disagrees with the file's bootstrap.servers is an error:
    /// one of them would be silently ignored otherwise.
    pub fn from_parts(
        label: &str,
        file: Option<&Path>,
        bootstrap: Option<(&str, &str)>,
        overrides: &[String],
    ) -> Result<Self, Error> {
        let mut settings = match file {
            Some(path) => Self::from_file(label, path)?,
            None => Self::new(label),
        };
        for item in overrides {
            settings.apply_override(item, "-X")?;
        }
        if let Some((servers, flag)) = bootstrap {
            settings.set_bootstrap(servers, flag)?;
        }
        if settings.get("bootstrap.servers").is_none() {
            return Err(Error::Usage(match file {
                Some(path) => format!(
                    "no bootstrap.servers for the {label} cluster: {} does not set it and no bootstrap flag was given",
                    path.display()
                ),
                None => format!("no bootstrap servers for the {label} cluster: give a bootstrap flag or a config file"),
            }));
        }
        Ok(settings)
    }

    /// Applies a `KEY=VALUE` override, translated like a file entry.
    pub fn apply_override(&mut self, item: &str, origin: &str) -> Result<(), Error> {
        let (key, value) = item.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "{origin} {}: expected KEY=VALUE",
                display_value(item, item)
            ))
        })?;
        let (translated, warnings) = translate_all([(key.trim(), value, origin.to_string())])?;
        for t in translated {
            self.entries.insert(
                t.key,
                Setting {
                    value: t.value,
                    origin: t.origin,
                },
            );
        }
        self.warnings.extend(warnings);
        self.normalise_bootstrap_alias();
        Ok(())
    }

    /// Sets bootstrap.servers from a flag; an existing different value is a conflict.
    pub fn set_bootstrap(&mut self, servers: &str, flag: &str) -> Result<(), Error> {
        if let Some(existing) = self.entries.get("bootstrap.servers") {
            if existing.value != servers {
                return Err(Error::Usage(format!(
                    "{flag} {servers} conflicts with bootstrap.servers={} from {}: give one of them",
                    existing.value, existing.origin
                )));
            }
        }
        self.entries.insert(
            "bootstrap.servers".into(),
            Setting {
                value: servers.to_string(),
                origin: flag.to_string(),
            },
        );
        Ok(())
    }

    fn normalise_bootstrap_alias(&mut self) {
        if let Some(list) = self.entries.remove("metadata.broker.list") {
            self.entries
                .entry("bootstrap.servers".into())
                .or_insert(list);
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|s| s.value.as_str())
    }

    pub fn setting(&self, key: &str) -> Option<&Setting> {
        self.entries.get(key)
    }

    /// The bootstrap servers (always set once built by `from_parts`).
    pub fn bootstrap(&self) -> &str {
        self.get("bootstrap.servers").unwrap_or("")
    }

    /// The clients use OpenSSL: TLS, or SASL (SCRAM's HMAC), i.e. any `security.protocol` but
    /// PLAINTEXT. OpenSSL's exit handler must not run while a librdkafka thread still shuts a
    /// connection down: such a tool waits for its clients' teardown before it exits.
    pub fn uses_openssl(&self) -> bool {
        self.get("security.protocol")
            .is_some_and(|p| !p.trim().eq_ignore_ascii_case("plaintext"))
    }

    /// Warnings from loading (dropped Java-only keys, overridden settings), for the tool to log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Sets `key` only if the user did not.
    pub fn set_default(&mut self, key: &str, value: &str) {
        self.entries
            .entry(key.to_string())
            .or_insert_with(|| Setting {
                value: value.to_string(),
                origin: "default".into(),
            });
    }

    /// Sets `key` whatever the user gave, returning the user's setting if it differed so the
    /// caller can warn or refuse.
    pub fn force(&mut self, key: &str, value: &str, origin: &str) -> Option<Setting> {
        let previous = self.entries.insert(
            key.to_string(),
            Setting {
                value: value.to_string(),
                origin: origin.to_string(),
            },
        );
        previous.filter(|p| p.value != value)
    }

    pub fn remove(&mut self, key: &str) -> Option<Setting> {
        self.entries.remove(key)
    }

    /// The librdkafka configuration for a client of `role`: properties that only the other kind
    /// of client understands are left out (a consumer.config serves an admin client too).
    pub fn client_config(&self, role: Role) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, setting) in &self.entries {
            let scope = librdkafka_scope(key).unwrap_or(Scope::Any);
            if scope.applies_to(role) {
                config.set(key, &setting.value);
            }
        }
        // librdkafka's own debug contexts (debug=fetch,...) are asked for explicitly: show them.
        config.set_log_level(if self.get("debug").is_some() {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Warning
        });
        config
    }

    /// Creates a client of any kind with the given context. librdkafka's refusal (a bad value)
    /// becomes an error naming the label and, when it names a key, where that key came from.
    pub fn create<C, T>(&self, role: Role, context: C) -> Result<T, Error>
    where
        C: ClientContext,
        T: FromClientConfigAndContext<C>,
    {
        self.client_config(role)
            .create_with_context(context)
            .map_err(|e| self.explain_create_error(e))
    }

    /// An admin client with the quiet tool context.
    pub fn admin(&self) -> Result<AdminClient<ToolContext>, Error> {
        self.create(Role::Admin, ToolContext::default())
    }

    fn explain_create_error(&self, err: KafkaError) -> Error {
        let text = redact_message(&err.to_string(), &self.entries);
        // librdkafka says e.g. `Invalid value "x" for configuration property "acks"`.
        // (rdkafka appends the key as the user spelled it and the value).
        let key = self
            .entries
            .keys()
            .find(|k| text.contains(&format!("\"{k}\"")) || text.contains(&format!(" {k} ")));
        match key.and_then(|k| self.entries.get(k).map(|s| (k, s))) {
            Some((key, setting)) => Error::Property {
                origin: setting.origin.clone(),
                key: key.clone(),
                message: text,
            },
            None => Error::Usage(format!(
                "cannot create a client for the {} cluster: {text}",
                self.label
            )),
        }
    }

    /// Checks that the cluster answers a metadata request within `timeout`; the error says
    /// which cluster and why (the last connection error librdkafka reported). A short-lived
    /// producer handle is used because its main queue can be polled for those errors, which an
    /// admin client's cannot.
    pub async fn check_reachable(&self, timeout: Duration) -> Result<(), Error> {
        let settings = self.clone();
        tokio::task::spawn_blocking(move || {
            let context = ToolContext::default();
            let probe: rdkafka::producer::BaseProducer<ToolContext> =
                settings.create(Role::Admin, context.clone())?;
            match rdkafka::producer::Producer::client(&probe).fetch_metadata(None, timeout) {
                Ok(_) => Ok(()),
                Err(e) => {
                    // Serve the error events queued while connecting.
                    probe.poll(Duration::ZERO);
                    Err(settings.unreachable(&context, timeout, &e))
                }
            }
        })
        .await
        .map_err(|e| Error::Usage(format!("reachability check panicked: {e}")))?
    }

    /// The error for a cluster that did not answer: the cause is librdkafka's last error (for
    /// instance "Connect to ipv4#127.0.0.1:1 failed: Connection refused") when it gave one.
    pub fn unreachable(&self, context: &ToolContext, timeout: Duration, err: &KafkaError) -> Error {
        let cause = context.last_error().unwrap_or_else(|| err.to_string());
        Error::Unreachable {
            cluster: self.label.clone(),
            bootstrap: self.bootstrap().to_string(),
            timeout,
            cause: redact_message(&cause, &self.entries),
        }
    }
}

/// Removes any secret value that librdkafka may echo in a message.
fn redact_message(text: &str, entries: &BTreeMap<String, Setting>) -> String {
    let mut out = text.to_string();
    for (key, setting) in entries {
        if is_sensitive(key) && !setting.value.is_empty() {
            out = out.replace(&setting.value, REDACTED);
        }
    }
    out
}

/// The client context of the one-shot tools: librdkafka's log lines go to the `log` crate at
/// debug level (the tool prints one clear error line instead), and the last error is kept so an
/// unreachable cluster can be explained.
#[derive(Clone, Default)]
pub struct ToolContext {
    last_error: Arc<Mutex<Option<String>>>,
}

impl ToolContext {
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }
}

impl rdkafka::producer::ProducerContext for ToolContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

impl ClientContext for ToolContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Error as i32) {
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(strip_broker_prefix(log_message));
            }
        }
        log::debug!(target: "librdkafka", "{fac}: {log_message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(strip_broker_prefix(reason));
        }
        log::debug!(target: "librdkafka", "{error}: {reason}");
    }
}

/// librdkafka prefixes connection errors with `host:port/bootstrap: `; the tool's message
/// already names the cluster.
fn strip_broker_prefix(message: &str) -> String {
    match message.split_once("/bootstrap: ") {
        Some((_, rest)) => rest.to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn file_plus_overrides_and_roles() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "consumer.properties",
            "bootstrap.servers=h:1\ngroup.id=g\nfetch.max.wait.ms=50\nkey.deserializer=x\nacks=all\n",
        );
        let settings =
            ClientSettings::from_parts("source", Some(&path), None, &["client.id=me".into()])
                .unwrap();
        assert_eq!(settings.bootstrap(), "h:1");
        assert_eq!(settings.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(settings.get("client.id"), Some("me"));
        assert_eq!(settings.warnings().len(), 1);
        assert!(settings.warnings()[0].contains("consumer.properties:4: ignoring key.deserializer"));
        let consumer = settings.client_config(Role::Consumer);
        assert_eq!(consumer.get("fetch.wait.max.ms"), Some("50"));
        assert_eq!(consumer.get("acks"), None);
        let admin = settings.client_config(Role::Admin);
        assert_eq!(admin.get("fetch.wait.max.ms"), None);
        assert_eq!(
            admin.get("group.id"),
            None,
            "group.id is a consumer property in librdkafka"
        );
        assert_eq!(consumer.get("group.id"), Some("g"));
        assert_eq!(
            settings.setting("group.id").unwrap().origin,
            format!("{}:2", path.display())
        );
    }

    #[test]
    fn bootstrap_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "c.properties", "bootstrap.servers=a:1\n");
        let err = ClientSettings::from_parts(
            "source",
            Some(&path),
            Some(("b:2", "--bootstrap-server")),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("--bootstrap-server b:2 conflicts with bootstrap.servers=a:1"),
            "{err}"
        );
        assert!(ClientSettings::from_parts(
            "source",
            Some(&path),
            Some(("a:1", "--bootstrap-server")),
            &[]
        )
        .is_ok());
        let empty = write(&dir, "e.properties", "client.id=x\n");
        let err = ClientSettings::from_parts("target", Some(&empty), None, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no bootstrap.servers for the target cluster")
                && err.contains("e.properties"),
            "{err}"
        );
        let alias = write(&dir, "m.properties", "metadata.broker.list=c:3\n");
        assert_eq!(
            ClientSettings::from_parts("s", Some(&alias), None, &[])
                .unwrap()
                .bootstrap(),
            "c:3"
        );
    }

    #[test]
    fn bad_override_and_unknown_key() {
        let err = ClientSettings::from_parts(
            "s",
            None,
            Some(("h:1", "--bootstrap-server")),
            &["novalue".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("expected KEY=VALUE"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "p.properties", "bootstrap.servers=h:1\n\nfoo.bar=1\n");
        let err = ClientSettings::from_file("s", &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:3: foo.bar: unknown property", path.display())),
            "{err}"
        );
    }

    #[test]
    fn invalid_value_names_its_origin_without_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "p.properties",
            "bootstrap.servers=h:1\nsasl.password=Sup3rS3cret\nacks=sometimes\n",
        );
        let settings = ClientSettings::from_file("target", &path).unwrap();
        let err = settings
            .create::<_, rdkafka::producer::FutureProducer<ToolContext>>(
                Role::Producer,
                ToolContext::default(),
            )
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with(&format!("{}:3: acks:", path.display())),
            "{err}"
        );
        assert!(!format!("{settings:?}").contains("Sup3rS3cret"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unreachable_cluster_fails_fast_with_cause() {
        let settings = ClientSettings::from_parts(
            "source",
            None,
            Some(("127.0.0.1:1", "--bootstrap-server")),
            &[],
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = settings
            .check_reachable(Duration::from_secs(2))
            .await
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            err.starts_with("cannot reach the source cluster at 127.0.0.1:1 within 2s:"),
            "{err}"
        );
        assert!(
            err.contains("Connection refused") || err.contains("onnect"),
            "{err}"
        );
    }
}
