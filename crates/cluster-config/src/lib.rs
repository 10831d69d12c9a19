//! The crate every tool of the Kafka mirroring toolkit shares: Java `.properties` files, Java →
//! librdkafka translation, secrets, the topic filter, client builders, the admin calls the
//! rdkafka crate lacks, errors and exit codes.

pub mod admin_ext;
pub mod client;
pub mod error;
pub mod filter;
mod librdkafka_properties;
pub mod logging;
pub mod properties;
pub mod secrets;
pub mod teardown;
pub mod translate;

pub use client::{ClientSettings, ConnectionArgs, Setting, ToolContext};
pub use error::{exit, Error};
pub use filter::{is_internal_topic, TopicFilter};
pub use properties::PropertiesFile;
pub use translate::Role;
