//! Secrets: config providers (`${env:NAME}`, `${file:/path:key}`) resolved when a file is loaded,
//! and redaction, so no password, private key or JAAS string reaches an error, log or debug line.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Error;
use crate::properties::PropertiesFile;

pub const REDACTED: &str = "[redacted]";

/// Whether the value of `key` is secret. Errs on the side of hiding.
pub fn is_sensitive(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password")
        || key.contains("secret")
        || key.contains("jaas")
        || key.contains("token")
        || key.contains("credential")
        || key == "ssl.key.pem"
        || key == "ssl_key"
        || key == "ssl.keystore.key"
        || key == "sasl.oauthbearer.config"
}

/// The value to show for `key`: itself, or a placeholder when it is secret.
pub fn display_value<'a>(key: &str, value: &'a str) -> &'a str {
    if is_sensitive(key) {
        REDACTED
    } else {
        value
    }
}

/// Resolves Kafka config-provider references in every value of `file`, in place:
/// `${env:NAME}` (Kafka's EnvVarConfigProvider) and `${file:/path/file.properties:key}`
/// (FileConfigProvider). The `config.providers*` declarations Java needs are accepted and dropped.
pub fn resolve_providers(file: &mut PropertiesFile) -> Result<(), Error> {
    let mut cache: HashMap<String, PropertiesFile> = HashMap::new();
    let origin_of = |file: &PropertiesFile, p: &crate::properties::Property| file.origin(p);
    let mut resolved = Vec::with_capacity(file.entries.len());
    for property in &file.entries {
        if property.key == "config.providers" || property.key.starts_with("config.providers.") {
            continue;
        }
        let mut property = property.clone();
        if property.value.contains("${") {
            property.value =
                resolve_value(&property.value, &mut cache).map_err(|message| Error::Property {
                    origin: origin_of(file, &property),
                    key: property.key.clone(),
                    message,
                })?;
        }
        resolved.push(property);
    }
    file.entries = resolved;
    Ok(())
}

/// Replaces `${env:..}` and `${file:..}` references. Anything else that looks like `${...}` is
/// left as it is, as Kafka's ConfigTransformer does for providers it does not have: it may be
/// part of a password, so it is neither an error nor repeated in one.
fn resolve_value(
    value: &str,
    cache: &mut HashMap<String, PropertiesFile>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let resolved = match after.find('}') {
            Some(end) => lookup(&after[..end], cache)?.map(|v| (v, end)),
            None => None,
        };
        match resolved {
            Some((text, end)) => {
                out.push_str(&text);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves one reference; `None` when it names no provider we have.
fn lookup(
    reference: &str,
    cache: &mut HashMap<String, PropertiesFile>,
) -> Result<Option<String>, String> {
    if let Some(rest) = reference.strip_prefix("env:") {
        // `${env:NAME}`; Kafka also accepts an empty path, `${env::NAME}`.
        let name = rest.strip_prefix(':').unwrap_or(rest);
        return std::env::var(name)
            .map(Some)
            .map_err(|_| format!("environment variable {} is not set", name.escape_debug()));
    }
    let Some(rest) = reference.strip_prefix("file:") else {
        return Ok(None);
    };
    // The path may itself contain ':'; the last one starts the key.
    let (path, key) = rest.rsplit_once(':').ok_or_else(|| {
        format!(
            "bad reference '${{file:{}}}': expected ${{file:/path/file.properties:key}}",
            rest.escape_debug()
        )
    })?;
    if !cache.contains_key(path) {
        let loaded =
            PropertiesFile::load(Path::new(path)).map_err(|e| format!("config provider: {e}"))?;
        cache.insert(path.to_string(), loaded);
    }
    cache[path]
        .get(key)
        .map(|p| Some(p.value.clone()))
        .ok_or_else(|| format!("key '{}' not found in {path}", key.escape_debug()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<PropertiesFile, Error> {
        let mut file = PropertiesFile::parse(text).unwrap();
        resolve_providers(&mut file).map(|()| file)
    }

    #[test]
    fn env_provider() {
        std::env::set_var("CC_TEST_SECRET_1", "s3cret");
        let file = resolve("config.providers=env\nsasl.password=${env:CC_TEST_SECRET_1}\nx=a${env::CC_TEST_SECRET_1}b").unwrap();
        assert_eq!(file.get("sasl.password").unwrap().value, "s3cret");
        assert_eq!(file.get("x").unwrap().value, "as3cretb");
        assert!(file.get("config.providers").is_none());
    }

    #[test]
    fn missing_env_var_names_it_and_the_key() {
        let err = resolve("sasl.password=${env:CC_TEST_DEFINITELY_UNSET}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("CC_TEST_DEFINITELY_UNSET"), "{err}");
        assert!(err.contains("sasl.password"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn file_provider() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.properties");
        std::fs::write(&secrets, "db.password=p4ss\n").unwrap();
        let text = format!(
            "config.providers=file\nconfig.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider\nsasl.password=${{file:{}:db.password}}",
            secrets.display()
        );
        let file = resolve(&text).unwrap();
        assert_eq!(file.get("sasl.password").unwrap().value, "p4ss");
        assert_eq!(file.entries.len(), 1);

        let err = resolve(&format!("p=${{file:{}:nokey}}", secrets.display()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("key 'nokey' not found"), "{err}");
        let err = resolve("p=${file:/nonexistent/s.properties:k}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/s.properties"), "{err}");
    }

    #[test]
    fn other_dollar_braces_are_left_alone_as_java_does() {
        // Not a provider we have: it may be part of a password, so it stays as written.
        for text in [
            "pa${SECRET-xyz}ss",
            "${vault:x:y}",
            "${env:X",
            "a${b",
            "${}",
        ] {
            let file = resolve(&format!("sasl.password={text}")).unwrap();
            assert_eq!(file.get("sasl.password").unwrap().value, text);
        }
        std::env::set_var("CC_TEST_SECRET_2", "v");
        let file = resolve("p=${x}${env:CC_TEST_SECRET_2}").unwrap();
        assert_eq!(file.get("p").unwrap().value, "${x}v");
    }

    #[test]
    fn sensitivity() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "sasl.jaas.config",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
        ] {
            assert!(is_sensitive(key), "{key}");
        }
        for key in [
            "bootstrap.servers",
            "sasl.username",
            "ssl.ca.location",
            "group.id",
        ] {
            assert!(!is_sensitive(key), "{key}");
        }
        assert_eq!(display_value("sasl.password", "x"), REDACTED);
        assert_eq!(display_value("acks", "all"), "all");
    }
}
