//! Admin operations that rust-rdkafka 0.39 does not wrap.
//!
//! rust-rdkafka's [`AdminClient`] covers topic creation and deletion, partitions, record and
//! group deletion, `describe_configs` and the legacy `alter_configs` (which resets every override
//! it is not given). Our tools also need ListConsumerGroups, DescribeConsumerGroups,
//! ListConsumerGroupOffsets, ListOffsets, IncrementalAlterConfigs and a DescribeConfigs that
//! checks the per-topic error. librdkafka has all of them, but the crate exposes them only as raw
//! `rdkafka::bindings` (rdkafka-sys). This module is the one place in the project that calls
//! those bindings; everything else uses the safe, owned types below.
//!
//! # How a call works
//!
//! Each function creates a private librdkafka queue, issues the request(s) on it and waits for
//! the result events. The wait is asynchronous and never blocks a runtime thread:
//! `rd_kafka_queue_cb_event_enable` makes librdkafka wake the task when an event arrives, and the
//! queue is then drained with non-blocking `rd_kafka_queue_poll(queue, 0)` calls. Because no
//! thread is involved (unlike a `spawn_blocking` design), a call may borrow the [`AdminClient`],
//! and dropping the future at any point is safe: the guards disable the wake-up callback, destroy
//! the queue and free every librdkafka object, and librdkafka discards results that arrive later.
//!
//! Every call takes a `timeout`. It is passed to librdkafka as the request timeout, and the
//! wait itself gives up a moment later ([`TIMEOUT_GRACE`]), so an unreachable cluster yields
//! [`AdminError::Timeout`] instead of a hang. A Tokio runtime with the time driver is required.
//!
//! Every librdkafka object created here is owned by a guard that destroys it on drop (admin
//! options, queues, events, topic partition lists, config resources, ListConsumerGroupOffsets
//! requests). Objects *returned* by librdkafka inside a result (group listings, descriptions,
//! config entries, partition lists) belong to their event and are copied into owned Rust values
//! before the event guard is dropped.
//!
//! # What Kafka 4 returns (verified by `tests/admin_ext.rs` against a real 4.x broker)
//!
//! - Describing a group that does not exist is **not an error**: it comes back with state
//!   [`GroupState::Dead`], no members, an empty assignor, type classic. (librdkafka first asks
//!   with ConsumerGroupDescribe, gets GROUP_ID_NOT_FOUND and falls back to the classic
//!   DescribeGroups, which answers "Dead".) Use [`GroupDescription::exists`].
//! - Listing the committed offsets of a group that does not exist is not an error either: the
//!   group comes back with no offsets (or `offset: None` for each partition asked for).
//! - A group that only commits offsets (assign + commit, no subscription) is listed and described
//!   as a classic, "simple" group in state `Empty`. A KIP-848 group (`group.protocol=consumer`)
//!   is type `consumer` with the broker-side assignor `uniform`. The KIP-848 states
//!   `Assigning` and `Reconciling` are unknown to librdkafka 2.12 and come back as
//!   [`GroupState::Unknown`].
//! - A missing topic is a per-resource UNKNOWN_TOPIC_OR_PARTITION error: from DescribeConfigs
//!   without a message (rust-rdkafka's own `describe_configs` ignores it and shows an empty
//!   config), from IncrementalAlterConfigs with "The topic 'x' does not exist.", from
//!   ListOffsets per partition. [`AdminError::is_unknown_topic`] is true for all three.
//! - Config changes and new topics reach the broker's metadata a moment after the controller
//!   accepted them: a DescribeConfigs right after CreateTopics or IncrementalAlterConfigs
//!   returned can still see the old state (unknown topic, old value).
//! - Transaction markers are written after `commit_transaction` returns, so the end offset
//!   (which counts the marker) can lag the commit by a moment.

#![allow(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;
use std::future::poll_fn;
use std::ptr;
use std::task::Poll;
use std::time::Duration;

use futures::task::AtomicWaker;
use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::ClientContext;
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use tokio::time::Instant;

/// How long the wait for results goes on after the librdkafka request timeout, so that
/// librdkafka's own timeout (which can still carry partial results) normally arrives first.
pub const TIMEOUT_GRACE: Duration = Duration::from_millis(500);

/// The largest request timeout librdkafka accepts (one hour).
const MAX_REQUEST_TIMEOUT_MS: u128 = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An admin operation failed, as a whole or for one resource (topic, group, partition).
///
/// `Display` is one line, e.g.
/// `DescribeConfigs for topic 'orders' failed: Broker: Unknown topic or partition`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The whole request failed (no broker reachable, invalid argument rejected by librdkafka...).
    #[error("{op} failed: {}", describe(*.code, .message))]
    Request {
        /// Kafka API name, e.g. `ListConsumerGroups`.
        op: &'static str,
        /// librdkafka or broker error code.
        code: RDKafkaErrorCode,
        /// The broker's (or librdkafka's) message; empty when there was none.
        message: String,
    },
    /// The request went through but failed for one resource.
    #[error("{op} for {resource} failed: {}", describe(*.code, .message))]
    Resource {
        /// Kafka API name, e.g. `DescribeConfigs`.
        op: &'static str,
        /// The resource, e.g. `topic 'orders'`, `group 'billing'`, `topic 'orders' partition 3`.
        resource: String,
        /// librdkafka or broker error code.
        code: RDKafkaErrorCode,
        /// The broker's message; empty when there was none.
        message: String,
    },
    /// No answer arrived within the timeout.
    #[error("{op} timed out after {after:?}")]
    Timeout {
        /// Kafka API name.
        op: &'static str,
        /// The timeout the caller gave.
        after: Duration,
    },
    /// The arguments cannot be sent (NUL byte in a name, duplicate resource...).
    #[error("{op}: invalid request: {message}")]
    InvalidRequest {
        /// Kafka API name.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// librdkafka answered with something this module does not expect (a bug here or there).
    #[error("{op}: unexpected librdkafka behaviour: {message}")]
    Unexpected {
        /// Kafka API name.
        op: &'static str,
        /// What happened.
        message: String,
    },
}

fn describe(code: RDKafkaErrorCode, message: &str) -> String {
    let text = error_text(code);
    if message.is_empty() {
        text
    } else {
        format!("{text} ({message})")
    }
}

/// librdkafka's description of an error code, e.g. `Broker: Unknown topic or partition`
/// (`RDKafkaErrorCode`'s own `Display` prefixes the variant name).
fn error_text(code: RDKafkaErrorCode) -> String {
    match RDKafkaRespErr::try_from(code as i32) {
        // SAFETY: rd_kafka_err2str returns a static NUL-terminated string for every code.
        Ok(err) => unsafe { owned_string(rd::rd_kafka_err2str(err)) },
        Err(_) => format!("{code:?}"),
    }
}

impl AdminError {
    /// The librdkafka or broker error code, if the error came from Kafka.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            AdminError::Request { code, .. } | AdminError::Resource { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The topic (or partition) does not exist.
    pub fn is_unknown_topic(&self) -> bool {
        matches!(
            self.code(),
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic)
        )
    }

    /// The consumer group does not exist (GROUP_ID_NOT_FOUND). Note that describing a missing
    /// group is not an error in Kafka 4: see [`GroupDescription::exists`].
    pub fn is_group_not_found(&self) -> bool {
        self.code() == Some(RDKafkaErrorCode::GroupIdNotFound)
    }

    /// The operation, or the part of it for one resource, timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, AdminError::Timeout { .. })
            || matches!(
                self.code(),
                Some(RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::RequestTimedOut)
            )
    }

    /// The broker rejected a config change because of a policy or an invalid value.
    pub fn is_invalid_config(&self) -> bool {
        matches!(
            self.code(),
            Some(RDKafkaErrorCode::InvalidConfig | RDKafkaErrorCode::PolicyViolation)
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Public result types
// ---------------------------------------------------------------------------------------------

/// Consumer group state, named as Kafka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// Not known to librdkafka (includes the KIP-848 states `Assigning` and `Reconciling`).
    Unknown,
    /// `PreparingRebalance`.
    PreparingRebalance,
    /// `CompletingRebalance`.
    CompletingRebalance,
    /// `Stable`: members are consuming.
    Stable,
    /// `Dead`: the group does not exist (any more).
    Dead,
    /// `Empty`: the group has committed offsets but no members.
    Empty,
}

impl GroupState {
    /// Kafka's name of the state (`Stable`, `Empty`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Unknown => "Unknown",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
            GroupState::Empty => "Empty",
        }
    }

    fn from_native(state: rd::rd_kafka_consumer_group_state_t) -> GroupState {
        use rd::rd_kafka_consumer_group_state_t as S;
        match state {
            S::RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE => GroupState::PreparingRebalance,
            S::RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE => {
                GroupState::CompletingRebalance
            }
            S::RD_KAFKA_CONSUMER_GROUP_STATE_STABLE => GroupState::Stable,
            S::RD_KAFKA_CONSUMER_GROUP_STATE_DEAD => GroupState::Dead,
            S::RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY => GroupState::Empty,
            _ => GroupState::Unknown,
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Group protocol type: `classic` (the rebalance protocol every client speaks) or `consumer`
/// (the KIP-848 protocol of Kafka 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupType {
    /// Not reported (older brokers) or not known to librdkafka.
    Unknown,
    /// The classic group protocol.
    Classic,
    /// The KIP-848 consumer group protocol.
    Consumer,
}

impl GroupType {
    /// Kafka's lower-case name (`classic`, `consumer`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Unknown => "unknown",
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
        }
    }

    fn from_native(kind: rd::rd_kafka_consumer_group_type_t) -> GroupType {
        use rd::rd_kafka_consumer_group_type_t as T;
        match kind {
            T::RD_KAFKA_CONSUMER_GROUP_TYPE_CLASSIC => GroupType::Classic,
            T::RD_KAFKA_CONSUMER_GROUP_TYPE_CONSUMER => GroupType::Consumer,
            _ => GroupType::Unknown,
        }
    }
}

impl fmt::Display for GroupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One group from [`list_consumer_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The group state.
    pub state: GroupState,
    /// True for groups that only commit offsets (no group membership, e.g. `assign` + commit).
    pub is_simple_consumer_group: bool,
    /// Protocol type of the group.
    pub group_type: GroupType,
}

/// What [`list_consumer_groups`] found. The listing asks every broker; a broker that fails adds
/// an entry to `errors` while the groups of the others are still returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListings {
    /// Groups found, in the order the brokers reported them.
    pub groups: Vec<GroupListing>,
    /// Per-broker errors (partial result when not empty).
    pub errors: Vec<AdminError>,
}

/// One member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Member id assigned by the coordinator (librdkafka calls it consumer id).
    pub member_id: String,
    /// Static membership id (`group.instance.id`), if set.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host as the broker saw it, e.g. `/127.0.0.1`.
    pub host: String,
    /// Partitions assigned to the member, sorted by topic then partition.
    pub assignment: Vec<(String, i32)>,
}

/// One group from [`describe_consumer_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The group state (`Dead` for a group that does not exist).
    pub state: GroupState,
    /// Protocol type of the group.
    pub group_type: GroupType,
    /// True for groups that only commit offsets.
    pub is_simple_consumer_group: bool,
    /// Assignor in use, e.g. `range`; empty when the group has no members.
    pub partition_assignor: String,
    /// Broker id of the group coordinator.
    pub coordinator: Option<i32>,
    /// Current members.
    pub members: Vec<GroupMember>,
    /// Per-group error; when set, the other fields are empty.
    pub error: Option<AdminError>,
}

impl GroupDescription {
    /// False when Kafka reports the group as missing. Kafka 4 describes a group that does not
    /// exist as state `Dead` without an error; some brokers answer GROUP_ID_NOT_FOUND instead.
    pub fn exists(&self) -> bool {
        match &self.error {
            Some(e) => !e.is_group_not_found(),
            None => self.state != GroupState::Dead,
        }
    }
}

/// A committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// The committed offset (the next offset the group will read); `None` when the group has
    /// not committed this partition.
    pub offset: Option<i64>,
    /// Commit metadata string (usually empty).
    pub metadata: String,
    /// Leader epoch stored with the commit, if any.
    pub leader_epoch: Option<i32>,
    /// Per-partition error.
    pub error: Option<AdminError>,
}

/// Committed offsets of one group from [`list_consumer_group_offsets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffsets {
    /// The group id.
    pub group_id: String,
    /// Committed offsets, sorted by topic then partition.
    pub offsets: Vec<CommittedOffset>,
    /// Per-group error; when set, `offsets` is empty.
    pub error: Option<AdminError>,
}

/// Which offset [`list_offsets`] should look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (the offset the next record will get). On a transactional topic this
    /// counts the transaction markers, and under read_committed it is the last stable offset.
    Latest,
    /// The offset of the record with the largest timestamp (Kafka 3.0+, ListOffsets v7).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this many milliseconds since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    fn to_native(self) -> i64 {
        match self {
            OffsetSpec::Earliest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_EARLIEST as i64,
            OffsetSpec::Latest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_LATEST as i64,
            OffsetSpec::MaxTimestamp => {
                rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_MAX_TIMESTAMP as i64
            }
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

/// Transaction isolation of a [`list_offsets`] lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsolationLevel {
    /// See every record, including those of open transactions.
    ReadUncommitted,
    /// Stop at the last stable offset (what a read_committed consumer can reach).
    ReadCommitted,
}

/// One partition's answer from [`list_offsets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOffset {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// The spec that was asked for.
    pub spec: OffsetSpec,
    /// The offset found; `None` when there is none (e.g. a timestamp after every record).
    pub offset: Option<i64>,
    /// Timestamp of the record at `offset`, when the broker reports one (timestamp lookups).
    pub timestamp: Option<i64>,
    /// Leader epoch of the partition, when reported.
    pub leader_epoch: Option<i32>,
    /// Per-partition error (e.g. unknown topic or partition).
    pub error: Option<AdminError>,
}

/// One change for [`incremental_alter_configs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    /// Config name, e.g. `retention.ms`.
    pub key: String,
    /// What to do with it.
    pub op: AlterOp,
}

impl AlterConfigOp {
    /// Set `key` to `value` (an override on the resource).
    pub fn set(key: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp {
            key: key.into(),
            op: AlterOp::Set(value.into()),
        }
    }

    /// Remove the override of `key` (the resource inherits the broker or default value).
    pub fn delete(key: impl Into<String>) -> Self {
        AlterConfigOp {
            key: key.into(),
            op: AlterOp::Delete,
        }
    }
}

/// The operation of an [`AlterConfigOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterOp {
    /// Set the value.
    Set(String),
    /// Remove the override.
    Delete,
    /// Add an element to a list-valued config.
    Append(String),
    /// Remove an element from a list-valued config.
    Subtract(String),
}

/// Where a config value comes from (librdkafka's `rd_kafka_ConfigSource_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// An override on this topic (`DYNAMIC_TOPIC_CONFIG`).
    DynamicTopic,
    /// Set dynamically for one broker (`DYNAMIC_BROKER_CONFIG`).
    DynamicBroker,
    /// Set dynamically as the default of all brokers (`DYNAMIC_DEFAULT_BROKER_CONFIG`).
    DynamicDefaultBroker,
    /// From the broker's properties file (`STATIC_BROKER_CONFIG`).
    StaticBroker,
    /// Kafka's built-in default (`DEFAULT_CONFIG`).
    Default,
    /// Anything else.
    Unknown,
}

impl ConfigSource {
    fn from_native(source: rd::rd_kafka_ConfigSource_t) -> ConfigSource {
        use rd::rd_kafka_ConfigSource_t as S;
        match source {
            S::RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG => ConfigSource::DynamicTopic,
            S::RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG => ConfigSource::DynamicBroker,
            S::RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG => {
                ConfigSource::DynamicDefaultBroker
            }
            S::RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG => ConfigSource::StaticBroker,
            S::RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG => ConfigSource::Default,
            _ => ConfigSource::Unknown,
        }
    }
}

/// One config of a topic from [`describe_topic_configs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Config name.
    pub name: String,
    /// Value; `None` for sensitive values and configs without a value.
    pub value: Option<String>,
    /// Where the value comes from; compare `DynamicTopic` entries to compare overrides.
    pub source: ConfigSource,
    /// Cannot be changed on a topic.
    pub is_read_only: bool,
    /// The value is a secret (and hidden).
    pub is_sensitive: bool,
    /// True only for Kafka's built-in default (a value inherited from broker settings is not).
    pub is_default: bool,
}

/// Per-topic result of [`describe_topic_configs`].
pub type TopicConfigs = (String, Result<Vec<ConfigEntry>, AdminError>);

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// Lists all consumer groups of the cluster, wrapping `rd_kafka_ListConsumerGroups`.
///
/// The crate only offers the old, single-broker `rd_kafka_list_groups` (via `fetch_group_list`),
/// which reports neither the group type nor per-broker errors. librdkafka asks every broker;
/// brokers that fail are reported in [`GroupListings::errors`] next to the groups of the others.
/// When no broker answers at all (no groups, only errors) the first error is returned instead,
/// as [`AdminError::Timeout`] when the brokers timed out.
pub async fn list_consumer_groups<C: ClientContext>(
    admin: &AdminClient<C>,
    timeout: Duration,
) -> Result<GroupListings, AdminError> {
    const OP: &str = "ListConsumerGroups";
    let deadline = deadline_after(timeout);
    let queue = {
        let rk = native_client(admin);
        let queue = Queue::new(rk, OP)?;
        let options = Options::new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
            OP,
            timeout,
        )?;
        // SAFETY: rk is the live client handle borrowed from `admin`; options and queue are
        // valid guards. librdkafka copies the options and keeps its own reference to the queue.
        unsafe { rd::rd_kafka_ListConsumerGroups(rk, options.ptr, queue.ptr) };
        queue
    };
    let event = queue
        .next_event(deadline)
        .await
        .ok_or(AdminError::Timeout {
            op: OP,
            after: timeout,
        })?;
    event.check(OP, timeout)?;
    // SAFETY: the event is a live ListConsumerGroups result (checked by its type below); the
    // returned pointer and everything reached from it live as long as the event.
    let result = unsafe { rd::rd_kafka_event_ListConsumerGroups_result(event.ptr) };
    if result.is_null() {
        return Err(event.unexpected_type(OP));
    }
    let mut groups = Vec::new();
    let mut count = 0;
    // SAFETY: result is valid (non-null, owned by event); count receives the array length.
    let listings = unsafe { rd::rd_kafka_ListConsumerGroups_result_valid(result, &mut count) };
    // SAFETY: librdkafka returns an array of `count` valid listing pointers owned by the event.
    for &listing in unsafe { native_slice(listings, count) } {
        // SAFETY: listing is a valid ConsumerGroupListing owned by the event.
        unsafe {
            groups.push(GroupListing {
                group_id: owned_string(rd::rd_kafka_ConsumerGroupListing_group_id(listing)),
                state: GroupState::from_native(rd::rd_kafka_ConsumerGroupListing_state(listing)),
                is_simple_consumer_group: rd::rd_kafka_ConsumerGroupListing_is_simple_consumer_group(
                    listing,
                ) != 0,
                group_type: GroupType::from_native(rd::rd_kafka_ConsumerGroupListing_type(
                    listing,
                )),
            });
        }
    }
    let mut errors = Vec::new();
    let mut count = 0;
    // SAFETY: as above.
    let errs = unsafe { rd::rd_kafka_ListConsumerGroups_result_errors(result, &mut count) };
    // SAFETY: an array of `count` valid error pointers owned by the event.
    for &err in unsafe { native_slice(errs, count) } {
        // SAFETY: err is a valid rd_kafka_error_t owned by the event.
        if let Some((code, message)) = unsafe { error_parts(err) } {
            errors.push(AdminError::Request {
                op: OP,
                code,
                message,
            });
        }
    }
    if groups.is_empty() && !errors.is_empty() {
        // Nothing answered: report the failure rather than an empty cluster.
        let first = errors.swap_remove(0);
        return Err(if first.is_timeout() {
            AdminError::Timeout {
                op: OP,
                after: timeout,
            }
        } else {
            first
        });
    }
    Ok(GroupListings { groups, errors })
}

/// Describes consumer groups (state, assignor, coordinator, members and their assignments),
/// wrapping `rd_kafka_DescribeConsumerGroups`, which rust-rdkafka does not expose.
///
/// All groups go in one call; librdkafka sends one request per group coordinator concurrently.
/// Results come back in the order of `groups` (duplicates are described once each time they
/// appear). A group that does not exist is **not** an error in Kafka 4: it comes back with state
/// [`GroupState::Dead`] (see [`GroupDescription::exists`]). When every group fails with the
/// same client-side error (e.g. the cluster is unreachable) that error is returned instead.
pub async fn describe_consumer_groups<C: ClientContext>(
    admin: &AdminClient<C>,
    groups: &[String],
    timeout: Duration,
) -> Result<Vec<GroupDescription>, AdminError> {
    const OP: &str = "DescribeConsumerGroups";
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let deadline = deadline_after(timeout);
    let unique: Vec<&String> = {
        let mut seen = HashSet::new();
        groups.iter().filter(|g| seen.insert(g.as_str())).collect()
    };
    let queue = {
        let rk = native_client(admin);
        let names = c_strings(OP, unique.iter().map(|g| g.as_str()))?;
        let mut name_ptrs: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
        let queue = Queue::new(rk, OP)?;
        let options = Options::new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
            OP,
            timeout,
        )?;
        // SAFETY: rk is live; name_ptrs points at NUL-terminated strings that outlive the call
        // (librdkafka copies them); options and queue are valid guards.
        unsafe {
            rd::rd_kafka_DescribeConsumerGroups(
                rk,
                name_ptrs.as_mut_ptr(),
                name_ptrs.len(),
                options.ptr,
                queue.ptr,
            )
        };
        queue
    };
    let event = queue
        .next_event(deadline)
        .await
        .ok_or(AdminError::Timeout {
            op: OP,
            after: timeout,
        })?;
    event.check(OP, timeout)?;
    // SAFETY: event is live; the result is owned by it.
    let result = unsafe { rd::rd_kafka_event_DescribeConsumerGroups_result(event.ptr) };
    if result.is_null() {
        return Err(event.unexpected_type(OP));
    }
    let mut count = 0;
    // SAFETY: result is valid; count receives the array length.
    let descs = unsafe { rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count) };
    let mut by_id = HashMap::new();
    // SAFETY: an array of `count` valid description pointers owned by the event.
    for &desc in unsafe { native_slice(descs, count) } {
        // SAFETY: desc is a valid ConsumerGroupDescription owned by the event.
        let description = unsafe { group_description(OP, desc) };
        by_id.insert(description.group_id.clone(), description);
    }
    let described: Vec<GroupDescription> = groups
        .iter()
        .map(|g| {
            by_id.get(g).cloned().ok_or_else(|| AdminError::Unexpected {
                op: OP,
                message: format!("no result for group '{g}'"),
            })
        })
        .collect::<Result<_, _>>()?;
    if let Some(err) = common_local_failure(OP, timeout, described.iter().map(|d| d.error.as_ref()))
    {
        return Err(err);
    }
    Ok(described)
}

/// When every resource failed with the same client-side error (a timeout, no broker
/// reachable...), the request as a whole failed: returns that error, as
/// [`AdminError::Timeout`] for timeouts. Broker errors stay per resource.
fn common_local_failure<'a>(
    op: &'static str,
    timeout: Duration,
    mut errors: impl Iterator<Item = Option<&'a AdminError>>,
) -> Option<AdminError> {
    // librdkafka's own (local) error codes are negative; broker codes are positive.
    let local_code = |e: &AdminError| match e {
        AdminError::Timeout { .. } => Some(RDKafkaErrorCode::OperationTimedOut),
        _ => e.code().filter(|c| (*c as i32) < 0),
    };
    let first = errors.next()??;
    let code = local_code(first)?;
    if !errors.all(|e| e.and_then(local_code) == Some(code)) {
        return None;
    }
    Some(match first {
        _ if first.is_timeout() => AdminError::Timeout { op, after: timeout },
        AdminError::Resource { code, message, .. } | AdminError::Request { code, message, .. } => {
            AdminError::Request {
                op,
                code: *code,
                message: message.clone(),
            }
        }
        other => other.clone(),
    })
}

/// Copies one group description out of a DescribeConsumerGroups result.
///
/// # Safety
/// `desc` must be a valid description owned by a live event.
unsafe fn group_description(
    op: &'static str,
    desc: *const rd::rd_kafka_ConsumerGroupDescription_t,
) -> GroupDescription {
    // SAFETY: every pointer used here is reached from `desc` and owned by its live event.
    unsafe {
        let group_id = owned_string(rd::rd_kafka_ConsumerGroupDescription_group_id(desc));
        let error = error_parts(rd::rd_kafka_ConsumerGroupDescription_error(desc)).map(
            |(code, message)| AdminError::Resource {
                op,
                resource: format!("group '{group_id}'"),
                code,
                message,
            },
        );
        let coordinator = rd::rd_kafka_ConsumerGroupDescription_coordinator(desc);
        let mut members = Vec::new();
        for idx in 0..rd::rd_kafka_ConsumerGroupDescription_member_count(desc) {
            let member = rd::rd_kafka_ConsumerGroupDescription_member(desc, idx);
            if member.is_null() {
                continue;
            }
            let assignment = rd::rd_kafka_MemberDescription_assignment(member);
            let mut assigned: Vec<(String, i32)> = if assignment.is_null() {
                Vec::new()
            } else {
                partition_list(rd::rd_kafka_MemberAssignment_partitions(assignment))
                    .iter()
                    .map(|tp| (owned_string(tp.topic), tp.partition))
                    .collect()
            };
            assigned.sort();
            members.push(GroupMember {
                member_id: owned_string(rd::rd_kafka_MemberDescription_consumer_id(member)),
                group_instance_id: optional_string(
                    rd::rd_kafka_MemberDescription_group_instance_id(member),
                ),
                client_id: owned_string(rd::rd_kafka_MemberDescription_client_id(member)),
                host: owned_string(rd::rd_kafka_MemberDescription_host(member)),
                assignment: assigned,
            });
        }
        GroupDescription {
            state: GroupState::from_native(rd::rd_kafka_ConsumerGroupDescription_state(desc)),
            group_type: GroupType::from_native(rd::rd_kafka_ConsumerGroupDescription_type(desc)),
            is_simple_consumer_group: rd::rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(
                desc,
            ) != 0,
            partition_assignor: owned_string(
                rd::rd_kafka_ConsumerGroupDescription_partition_assignor(desc),
            ),
            coordinator: (!coordinator.is_null()).then(|| rd::rd_kafka_Node_id(coordinator)),
            members,
            error,
            group_id,
        }
    }
}

/// Lists every committed offset of each group, wrapping `rd_kafka_ListConsumerGroupOffsets`.
///
/// librdkafka takes exactly one group per call, so one call per group is issued, all on the same
/// queue and all in flight at once: 500 groups take about as long as a few. Results come back in
/// the order of `groups`, each with only the partitions the group has committed. To see
/// uncommitted partitions as `offset: None`, name them with
/// [`list_consumer_group_offsets_for`].
///
/// A group-level failure is reported in [`GroupOffsets::error`]; when *every* group fails with
/// the same client-side error (e.g. the cluster is unreachable) that error is returned instead.
pub async fn list_consumer_group_offsets<C: ClientContext>(
    admin: &AdminClient<C>,
    groups: &[String],
    timeout: Duration,
) -> Result<Vec<GroupOffsets>, AdminError> {
    let requests: Vec<GroupQuery<'_>> = groups.iter().map(|g| (g.as_str(), None)).collect();
    group_offsets(admin, &requests, timeout).await
}

/// Like [`list_consumer_group_offsets`], but for the named partitions of each group only.
/// Partitions the group has not committed come back with `offset: None` (librdkafka's
/// `RD_KAFKA_OFFSET_INVALID`). An empty partition list means "all committed partitions".
pub async fn list_consumer_group_offsets_for<C: ClientContext>(
    admin: &AdminClient<C>,
    groups: &[(String, Vec<(String, i32)>)],
    timeout: Duration,
) -> Result<Vec<GroupOffsets>, AdminError> {
    let requests: Vec<GroupQuery<'_>> = groups
        .iter()
        .map(|(g, parts)| (g.as_str(), (!parts.is_empty()).then_some(parts.as_slice())))
        .collect();
    group_offsets(admin, &requests, timeout).await
}

/// One group and, optionally, the partitions to ask for (`None`: all committed ones).
type GroupQuery<'a> = (&'a str, Option<&'a [(String, i32)]>);

async fn group_offsets<C: ClientContext>(
    admin: &AdminClient<C>,
    requests: &[GroupQuery<'_>],
    timeout: Duration,
) -> Result<Vec<GroupOffsets>, AdminError> {
    const OP: &str = "ListConsumerGroupOffsets";
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let deadline = deadline_after(timeout);
    let queue = {
        let rk = native_client(admin);
        let queue = Queue::new(rk, OP)?;
        let options = Options::new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            OP,
            timeout,
        )?;
        for (idx, (group, partitions)) in requests.iter().enumerate() {
            let group_c = c_string(OP, group)?;
            let tpl = match partitions {
                Some(parts) => Some(PartitionList::new(
                    OP,
                    parts.iter().map(|(t, p)| (t.as_str(), *p, None)),
                )?),
                None => None,
            };
            let tpl_ptr = tpl.as_ref().map_or(ptr::null(), |t| t.ptr.cast_const());
            // SAFETY: group_c is NUL-terminated; tpl_ptr is null or a valid list. librdkafka
            // copies both.
            let request = ListGroupOffsetsRequest(unsafe {
                rd::rd_kafka_ListConsumerGroupOffsets_new(group_c.as_ptr(), tpl_ptr)
            });
            let mut request_ptrs = [request.0];
            // SAFETY: options is valid; the opaque is a plain index, never dereferenced.
            unsafe { rd::rd_kafka_AdminOptions_set_opaque(options.ptr, (idx + 1) as *mut c_void) };
            // SAFETY: rk is live; one valid request (librdkafka copies it); options (copied,
            // with this call's opaque) and queue are valid.
            unsafe {
                rd::rd_kafka_ListConsumerGroupOffsets(
                    rk,
                    request_ptrs.as_mut_ptr(),
                    1,
                    options.ptr,
                    queue.ptr,
                )
            };
        }
        queue
    };

    let mut results: Vec<Option<GroupOffsets>> = vec![None; requests.len()];
    let mut outstanding = requests.len();
    while outstanding > 0 {
        let event = queue
            .next_event(deadline)
            .await
            .ok_or(AdminError::Timeout {
                op: OP,
                after: timeout,
            })?;
        let idx = event.opaque().wrapping_sub(1);
        let Some(&(group, _)) = requests.get(idx) else {
            return Err(event.unexpected_type(OP));
        };
        if results[idx].is_some() {
            continue;
        }
        outstanding -= 1;
        let offsets = match event.check(OP, timeout) {
            Err(err) => GroupOffsets {
                group_id: group.to_owned(),
                offsets: Vec::new(),
                error: Some(group_error(OP, group, err)),
            },
            // SAFETY: event is live and its error was checked.
            Ok(()) => unsafe { group_offsets_result(OP, &event, group)? },
        };
        results[idx] = Some(offsets);
    }
    let results: Vec<GroupOffsets> = results.into_iter().flatten().collect();
    if let Some(err) = common_local_failure(OP, timeout, results.iter().map(|r| r.error.as_ref())) {
        return Err(err);
    }
    Ok(results)
}

/// Turns a request-level error of one group's call into that group's error.
fn group_error(op: &'static str, group: &str, err: AdminError) -> AdminError {
    match err {
        AdminError::Request { code, message, .. } => AdminError::Resource {
            op,
            resource: format!("group '{group}'"),
            code,
            message,
        },
        AdminError::Timeout { .. } => AdminError::Resource {
            op,
            resource: format!("group '{group}'"),
            code: RDKafkaErrorCode::OperationTimedOut,
            message: String::new(),
        },
        other => other,
    }
}

/// Copies one ListConsumerGroupOffsets result event.
///
/// # Safety
/// `event` must be a live event whose request-level error has been checked.
unsafe fn group_offsets_result(
    op: &'static str,
    event: &Event,
    group: &str,
) -> Result<GroupOffsets, AdminError> {
    // SAFETY: event is live.
    let result = unsafe { rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.ptr) };
    if result.is_null() {
        return Err(event.unexpected_type(op));
    }
    let mut count = 0;
    // SAFETY: result is valid and owned by the event.
    let groups = unsafe { rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count) };
    // SAFETY: an array of `count` valid group results owned by the event.
    let groups = unsafe { native_slice(groups, count) };
    let Some(&groupres) = groups.first() else {
        return Err(AdminError::Unexpected {
            op,
            message: format!("empty result for group '{group}'"),
        });
    };
    // SAFETY: groupres and what it points to are owned by the event.
    unsafe {
        let name = owned_string(rd::rd_kafka_group_result_name(groupres));
        if name != group {
            return Err(AdminError::Unexpected {
                op,
                message: format!("asked for group '{group}', got a result for '{name}'"),
            });
        }
        if let Some((code, message)) = error_parts(rd::rd_kafka_group_result_error(groupres)) {
            return Ok(GroupOffsets {
                group_id: name,
                offsets: Vec::new(),
                error: Some(AdminError::Resource {
                    op,
                    resource: format!("group '{group}'"),
                    code,
                    message,
                }),
            });
        }
        let mut offsets: Vec<CommittedOffset> =
            partition_list(rd::rd_kafka_group_result_partitions(groupres))
                .iter()
                .map(|tp| {
                    let topic = owned_string(tp.topic);
                    let metadata = if tp.metadata.is_null() || tp.metadata_size == 0 {
                        String::new()
                    } else {
                        let bytes =
                            std::slice::from_raw_parts(tp.metadata as *const u8, tp.metadata_size);
                        String::from_utf8_lossy(bytes).into_owned()
                    };
                    CommittedOffset {
                        error: partition_error(op, &topic, tp),
                        offset: (tp.offset >= 0).then_some(tp.offset),
                        leader_epoch: non_negative(rd::rd_kafka_topic_partition_get_leader_epoch(
                            tp,
                        )),
                        partition: tp.partition,
                        metadata,
                        topic,
                    }
                })
                .collect();
        offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(GroupOffsets {
            group_id: name,
            offsets,
            error: None,
        })
    }
}

/// Looks up offsets by spec (earliest, latest, max timestamp, by timestamp), wrapping
/// `rd_kafka_ListOffsets`, which rust-rdkafka does not expose (its consumer-side
/// `offsets_for_times`/`fetch_watermarks` need a consumer and one call per partition).
///
/// Many partitions go in one call; librdkafka sends one request per partition leader. A
/// partition may appear several times with different specs: each distinct (topic, partition)
/// is asked once per call, so repeats are sent as extra concurrent calls. Results come back in
/// the order of `partitions`.
pub async fn list_offsets<C: ClientContext>(
    admin: &AdminClient<C>,
    partitions: &[(String, i32, OffsetSpec)],
    isolation: IsolationLevel,
    timeout: Duration,
) -> Result<Vec<ListedOffset>, AdminError> {
    const OP: &str = "ListOffsets";
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    let deadline = deadline_after(timeout);
    // Split into rounds in which every (topic, partition) appears at most once.
    let mut round_of = Vec::with_capacity(partitions.len());
    let mut seen: HashMap<(&str, i32), usize> = HashMap::new();
    for (topic, partition, _) in partitions {
        let count = seen.entry((topic.as_str(), *partition)).or_insert(0);
        round_of.push(*count);
        *count += 1;
    }
    let rounds = round_of.iter().max().map_or(0, |m| m + 1);
    let queue = {
        let rk = native_client(admin);
        let queue = Queue::new(rk, OP)?;
        let options = Options::new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
            OP,
            timeout,
        )?;
        let level = match isolation {
            IsolationLevel::ReadUncommitted => {
                rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_UNCOMMITTED
            }
            IsolationLevel::ReadCommitted => {
                rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED
            }
        };
        // SAFETY: options is valid; the returned error (if any) is ours to destroy.
        options.check_error(OP, unsafe {
            rd::rd_kafka_AdminOptions_set_isolation_level(options.ptr, level)
        })?;
        for round in 0..rounds {
            let tpl = PartitionList::new(
                OP,
                partitions
                    .iter()
                    .zip(&round_of)
                    .filter(|(_, r)| **r == round)
                    .map(|((t, p, spec), _)| (t.as_str(), *p, Some(spec.to_native()))),
            )?;
            // SAFETY: options is valid; the opaque is a plain index, never dereferenced.
            unsafe {
                rd::rd_kafka_AdminOptions_set_opaque(options.ptr, (round + 1) as *mut c_void)
            };
            // SAFETY: rk is live; tpl, options and queue are valid; librdkafka copies the list
            // and the options.
            unsafe { rd::rd_kafka_ListOffsets(rk, tpl.ptr, options.ptr, queue.ptr) };
        }
        queue
    };

    let mut found: HashMap<(usize, String, i32), ListedOffsetParts> = HashMap::new();
    let mut done = vec![false; rounds];
    let mut outstanding = rounds;
    while outstanding > 0 {
        let event = queue
            .next_event(deadline)
            .await
            .ok_or(AdminError::Timeout {
                op: OP,
                after: timeout,
            })?;
        let round = event.opaque().wrapping_sub(1);
        if round >= rounds || done[round] {
            return Err(event.unexpected_type(OP));
        }
        done[round] = true;
        outstanding -= 1;
        event.check(OP, timeout)?;
        // SAFETY: event is live.
        let result = unsafe { rd::rd_kafka_event_ListOffsets_result(event.ptr) };
        if result.is_null() {
            return Err(event.unexpected_type(OP));
        }
        let mut count = 0;
        // SAFETY: result is valid; count receives the array length.
        let infos = unsafe { rd::rd_kafka_ListOffsets_result_infos(result, &mut count) };
        // SAFETY: an array of `count` valid infos owned by the event.
        for &info in unsafe { native_slice(infos, count) } {
            // SAFETY: info and its topic partition are owned by the event.
            unsafe {
                let tp = &*rd::rd_kafka_ListOffsetsResultInfo_topic_partition(info);
                let topic = owned_string(tp.topic);
                let parts = ListedOffsetParts {
                    offset: (tp.offset >= 0).then_some(tp.offset),
                    timestamp: non_negative(rd::rd_kafka_ListOffsetsResultInfo_timestamp(info)),
                    leader_epoch: non_negative(rd::rd_kafka_topic_partition_get_leader_epoch(tp)),
                    error: partition_error(OP, &topic, tp),
                };
                found.insert((round, topic, tp.partition), parts);
            }
        }
    }
    partitions
        .iter()
        .zip(&round_of)
        .map(|((topic, partition, spec), round)| {
            let parts = found
                .remove(&(*round, topic.clone(), *partition))
                .ok_or_else(|| AdminError::Unexpected {
                    op: OP,
                    message: format!("no result for topic '{topic}' partition {partition}"),
                })?;
            Ok(ListedOffset {
                topic: topic.clone(),
                partition: *partition,
                spec: *spec,
                offset: parts.offset,
                timestamp: parts.timestamp,
                leader_epoch: parts.leader_epoch,
                error: parts.error,
            })
        })
        .collect()
}

struct ListedOffsetParts {
    offset: Option<i64>,
    timestamp: Option<i64>,
    leader_epoch: Option<i32>,
    error: Option<AdminError>,
}

/// Changes topic configs key by key, wrapping `rd_kafka_IncrementalAlterConfigs`.
///
/// rust-rdkafka only has the legacy AlterConfigs, which replaces the whole config of a resource
/// and so resets every override it is not given. IncrementalAlterConfigs touches only the named
/// keys. All topics go in one request. With `validate_only` the broker checks the changes
/// without applying them. Results come back in the order of `changes`, one per topic, with the
/// broker's message for a rejected change (invalid value, policy violation, unknown topic).
/// Naming a topic twice is an [`AdminError::InvalidRequest`].
pub async fn incremental_alter_configs<C: ClientContext>(
    admin: &AdminClient<C>,
    changes: &[(String, Vec<AlterConfigOp>)],
    validate_only: bool,
    timeout: Duration,
) -> Result<Vec<(String, Result<(), AdminError>)>, AdminError> {
    const OP: &str = "IncrementalAlterConfigs";
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = HashSet::new();
    if let Some((dup, _)) = changes.iter().find(|(t, _)| !seen.insert(t.as_str())) {
        return Err(AdminError::InvalidRequest {
            op: OP,
            message: format!("topic '{dup}' is named twice"),
        });
    }
    let deadline = deadline_after(timeout);
    let queue = {
        let rk = native_client(admin);
        let mut resources = Vec::with_capacity(changes.len());
        for (topic, ops) in changes {
            let resource = ConfigResource::topic(OP, topic)?;
            for op in ops {
                resource.add_incremental(OP, op)?;
            }
            resources.push(resource);
        }
        let mut resource_ptrs: Vec<*mut rd::rd_kafka_ConfigResource_t> =
            resources.iter().map(|r| r.ptr).collect();
        let queue = Queue::new(rk, OP)?;
        let options = Options::new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            OP,
            timeout,
        )?;
        options.set_validate_only(OP, validate_only)?;
        // SAFETY: rk is live; resource_ptrs holds valid resources (librdkafka copies them);
        // options and queue are valid guards.
        unsafe {
            rd::rd_kafka_IncrementalAlterConfigs(
                rk,
                resource_ptrs.as_mut_ptr(),
                resource_ptrs.len(),
                options.ptr,
                queue.ptr,
            )
        };
        queue
    };
    let event = queue
        .next_event(deadline)
        .await
        .ok_or(AdminError::Timeout {
            op: OP,
            after: timeout,
        })?;
    event.check(OP, timeout)?;
    // SAFETY: event is live.
    let result = unsafe { rd::rd_kafka_event_IncrementalAlterConfigs_result(event.ptr) };
    if result.is_null() {
        return Err(event.unexpected_type(OP));
    }
    let mut count = 0;
    // SAFETY: result is valid; count receives the array length.
    let resources =
        unsafe { rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count) };
    let mut by_topic: HashMap<String, Result<(), AdminError>> = HashMap::new();
    // SAFETY: an array of `count` valid resources owned by the event.
    for &res in unsafe { native_slice(resources, count) } {
        // SAFETY: res is owned by the event.
        let (name, error) = unsafe { resource_outcome(OP, res) };
        by_topic.insert(name, error.map_or(Ok(()), Err));
    }
    changes
        .iter()
        .map(|(topic, _)| {
            let outcome = by_topic
                .remove(topic)
                .ok_or_else(|| AdminError::Unexpected {
                    op: OP,
                    message: format!("no result for topic '{topic}'"),
                })?;
            Ok((topic.clone(), outcome))
        })
        .collect()
}

/// Describes all configs of each topic, wrapping `rd_kafka_DescribeConfigs` with the
/// per-resource error check that rust-rdkafka's `describe_configs` lacks (there a missing topic
/// looks like a topic with no config; here it is an error for which
/// [`AdminError::is_unknown_topic`] is true).
///
/// All topics go in one request (1,000 topics are one round trip). Results come back in the
/// order of `topics`; entries are sorted by name, synonyms are left out.
pub async fn describe_topic_configs<C: ClientContext>(
    admin: &AdminClient<C>,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<TopicConfigs>, AdminError> {
    const OP: &str = "DescribeConfigs";
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let deadline = deadline_after(timeout);
    let queue = {
        let rk = native_client(admin);
        let mut seen = HashSet::new();
        let mut resources = Vec::with_capacity(topics.len());
        for topic in topics.iter().filter(|t| seen.insert(t.as_str())) {
            resources.push(ConfigResource::topic(OP, topic)?);
        }
        let mut resource_ptrs: Vec<*mut rd::rd_kafka_ConfigResource_t> =
            resources.iter().map(|r| r.ptr).collect();
        let queue = Queue::new(rk, OP)?;
        let options = Options::new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS,
            OP,
            timeout,
        )?;
        // SAFETY: rk is live; resource_ptrs holds valid resources (librdkafka copies them);
        // options and queue are valid guards.
        unsafe {
            rd::rd_kafka_DescribeConfigs(
                rk,
                resource_ptrs.as_mut_ptr(),
                resource_ptrs.len(),
                options.ptr,
                queue.ptr,
            )
        };
        queue
    };
    let event = queue
        .next_event(deadline)
        .await
        .ok_or(AdminError::Timeout {
            op: OP,
            after: timeout,
        })?;
    event.check(OP, timeout)?;
    // SAFETY: event is live.
    let result = unsafe { rd::rd_kafka_event_DescribeConfigs_result(event.ptr) };
    if result.is_null() {
        return Err(event.unexpected_type(OP));
    }
    let mut count = 0;
    // SAFETY: result is valid; count receives the array length.
    let resources = unsafe { rd::rd_kafka_DescribeConfigs_result_resources(result, &mut count) };
    let mut by_topic: HashMap<String, Result<Vec<ConfigEntry>, AdminError>> = HashMap::new();
    // SAFETY: an array of `count` valid resources owned by the event.
    for &res in unsafe { native_slice(resources, count) } {
        // SAFETY: res and its entries are owned by the event.
        unsafe {
            let (name, error) = resource_outcome(OP, res);
            let outcome = match error {
                Some(err) => Err(err),
                None => {
                    let mut n = 0;
                    let entries = rd::rd_kafka_ConfigResource_configs(res, &mut n);
                    let mut configs: Vec<ConfigEntry> = native_slice(entries, n)
                        .iter()
                        .filter(|&&e| rd::rd_kafka_ConfigEntry_is_synonym(e) == 0)
                        .map(|&e| ConfigEntry {
                            name: owned_string(rd::rd_kafka_ConfigEntry_name(e)),
                            value: optional_string(rd::rd_kafka_ConfigEntry_value(e)),
                            source: ConfigSource::from_native(rd::rd_kafka_ConfigEntry_source(e)),
                            is_read_only: rd::rd_kafka_ConfigEntry_is_read_only(e) != 0,
                            is_sensitive: rd::rd_kafka_ConfigEntry_is_sensitive(e) != 0,
                            is_default: rd::rd_kafka_ConfigEntry_is_default(e) != 0,
                        })
                        .collect();
                    configs.sort_by(|a, b| a.name.cmp(&b.name));
                    Ok(configs)
                }
            };
            by_topic.insert(name, outcome);
        }
    }
    topics
        .iter()
        .map(|topic| {
            let outcome = by_topic
                .get(topic)
                .cloned()
                .ok_or_else(|| AdminError::Unexpected {
                    op: OP,
                    message: format!("no result for topic '{topic}'"),
                })?;
            Ok((topic.clone(), outcome))
        })
        .collect()
}

/// Name and error of one config resource in a result.
///
/// # Safety
/// `res` must be a valid resource owned by a live event.
unsafe fn resource_outcome(
    op: &'static str,
    res: *const rd::rd_kafka_ConfigResource_t,
) -> (String, Option<AdminError>) {
    // SAFETY: res is valid per the contract.
    unsafe {
        let name = owned_string(rd::rd_kafka_ConfigResource_name(res));
        let code = rd::rd_kafka_ConfigResource_error(res);
        if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            return (name, None);
        }
        let error = AdminError::Resource {
            op,
            resource: format!("topic '{name}'"),
            code: code.into(),
            message: broker_message(
                code,
                optional_string(rd::rd_kafka_ConfigResource_error_string(res)),
            ),
        };
        (name, Some(error))
    }
}

// ---------------------------------------------------------------------------------------------
// RAII guards and FFI helpers
// ---------------------------------------------------------------------------------------------

fn native_client<C: ClientContext>(admin: &AdminClient<C>) -> *mut rd::rd_kafka_t {
    admin.inner().native_ptr()
}

fn deadline_after(timeout: Duration) -> Instant {
    Instant::now() + timeout + TIMEOUT_GRACE
}

/// A private result queue that wakes the waiting task when librdkafka enqueues an event.
struct Queue {
    ptr: *mut rd::rd_kafka_queue_t,
    // Boxed so its address, handed to librdkafka as the callback's opaque, never moves.
    waker: Box<AtomicWaker>,
}

// SAFETY: librdkafka queues are thread-safe (internally locked) and AtomicWaker is Sync; the
// guard only polls and destroys the queue.
unsafe impl Send for Queue {}
// SAFETY: see above; `&Queue` only allows non-blocking polls, which librdkafka serialises.
unsafe impl Sync for Queue {}

/// Called by a librdkafka thread, with the queue's lock held, when the queue becomes non-empty.
extern "C" fn wake_queue_reader(_rk: *mut rd::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: opaque is the AtomicWaker of a live Queue: Queue::drop disables this callback
    // (under the same queue lock) before the waker is freed.
    let waker = unsafe { &*(opaque as *const AtomicWaker) };
    waker.wake();
}

impl Queue {
    fn new(rk: *mut rd::rd_kafka_t, op: &'static str) -> Result<Queue, AdminError> {
        // SAFETY: rk is a live client handle.
        let ptr = unsafe { rd::rd_kafka_queue_new(rk) };
        if ptr.is_null() {
            return Err(AdminError::Unexpected {
                op,
                message: "rd_kafka_queue_new failed".into(),
            });
        }
        let queue = Queue {
            ptr,
            waker: Box::new(AtomicWaker::new()),
        };
        let opaque = &*queue.waker as *const AtomicWaker as *mut c_void;
        // SAFETY: the queue is valid; the opaque outlives the callback registration (Drop).
        unsafe { rd::rd_kafka_queue_cb_event_enable(queue.ptr, Some(wake_queue_reader), opaque) };
        Ok(queue)
    }

    /// The next event, or `None` once `deadline` has passed.
    async fn next_event(&self, deadline: Instant) -> Option<Event> {
        let wait = poll_fn(|cx| {
            // Register before polling so an event enqueued in between still wakes us.
            self.waker.register(cx.waker());
            // SAFETY: the queue is valid; a zero timeout never blocks.
            let ev = unsafe { rd::rd_kafka_queue_poll(self.ptr, 0) };
            if ev.is_null() {
                Poll::Pending
            } else {
                Poll::Ready(Event { ptr: ev })
            }
        });
        tokio::time::timeout_at(deadline, wait).await.ok()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: the queue is valid. Disabling the callback takes the queue lock, which the
        // callback runs under, so no callback runs after this returns; then the waker may go.
        // Destroying our handle is safe with requests in flight: librdkafka holds its own
        // reference and discards late results.
        unsafe {
            rd::rd_kafka_queue_cb_event_enable(self.ptr, None, ptr::null_mut());
            rd::rd_kafka_queue_destroy(self.ptr);
        }
    }
}

/// An owned result event.
struct Event {
    ptr: *mut rd::rd_kafka_event_t,
}

// SAFETY: an event is a self-contained result object; librdkafka allows destroying and reading
// it from any thread (rust-rdkafka's own NativeEvent is Send too).
unsafe impl Send for Event {}

impl Event {
    /// The request-level error of the event, if any.
    fn check(&self, op: &'static str, timeout: Duration) -> Result<(), AdminError> {
        // SAFETY: the event is live.
        let code = unsafe { rd::rd_kafka_event_error(self.ptr) };
        if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Ok(());
        }
        if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR__TIMED_OUT {
            return Err(AdminError::Timeout { op, after: timeout });
        }
        // SAFETY: the event is live; the string (if any) lives as long as the event.
        let message = unsafe { optional_string(rd::rd_kafka_event_error_string(self.ptr)) };
        Err(AdminError::Request {
            op,
            code: code.into(),
            message: broker_message(code, message),
        })
    }

    /// The index this module stored as the request's opaque (0 when none was set).
    fn opaque(&self) -> usize {
        // SAFETY: the event is live; the opaque is an integer we set, never dereferenced.
        unsafe { rd::rd_kafka_event_opaque(self.ptr) as usize }
    }

    fn unexpected_type(&self, op: &'static str) -> AdminError {
        // SAFETY: the event is live.
        let kind = unsafe { rd::rd_kafka_event_type(self.ptr) };
        AdminError::Unexpected {
            op,
            message: format!("unexpected result event type {kind}"),
        }
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: we own the event; nothing borrowed from it outlives the guard.
        unsafe { rd::rd_kafka_event_destroy(self.ptr) };
    }
}

/// Owned `rd_kafka_AdminOptions_t`.
struct Options {
    ptr: *mut rd::rd_kafka_AdminOptions_t,
}

impl Options {
    fn new(
        rk: *mut rd::rd_kafka_t,
        api: rd::rd_kafka_admin_op_t,
        op: &'static str,
        timeout: Duration,
    ) -> Result<Options, AdminError> {
        // SAFETY: rk is a live client handle; api is a valid enum value.
        let ptr = unsafe { rd::rd_kafka_AdminOptions_new(rk, api) };
        if ptr.is_null() {
            return Err(AdminError::Unexpected {
                op,
                message: "rd_kafka_AdminOptions_new failed".into(),
            });
        }
        let options = Options { ptr };
        let ms = timeout.as_millis().min(MAX_REQUEST_TIMEOUT_MS) as c_int;
        let mut errstr = [0 as c_char; 512];
        // SAFETY: options is valid; errstr is a writable buffer of the given size.
        let code = unsafe {
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options.ptr,
                ms,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        options.check_code(op, code, &errstr)?;
        Ok(options)
    }

    fn set_validate_only(&self, op: &'static str, validate_only: bool) -> Result<(), AdminError> {
        let mut errstr = [0 as c_char; 512];
        // SAFETY: options is valid; errstr is a writable buffer of the given size.
        let code = unsafe {
            rd::rd_kafka_AdminOptions_set_validate_only(
                self.ptr,
                c_int::from(validate_only),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        self.check_code(op, code, &errstr)
    }

    fn check_code(
        &self,
        op: &'static str,
        code: RDKafkaRespErr,
        errstr: &[c_char],
    ) -> Result<(), AdminError> {
        if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Ok(());
        }
        // SAFETY: librdkafka NUL-terminates errstr (it was zeroed, so it is terminated anyway).
        let message = unsafe { owned_string(errstr.as_ptr()) };
        Err(AdminError::InvalidRequest { op, message })
    }

    /// Consumes an `rd_kafka_error_t` returned by an option setter.
    fn check_error(
        &self,
        op: &'static str,
        error: *mut rd::rd_kafka_error_t,
    ) -> Result<(), AdminError> {
        if error.is_null() {
            return Ok(());
        }
        let error = OwnedError(error);
        // SAFETY: error is a valid, owned error object.
        let message = unsafe { owned_string(rd::rd_kafka_error_string(error.0)) };
        Err(AdminError::InvalidRequest { op, message })
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: we own the options; librdkafka copied them into every request.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.ptr) };
    }
}

/// Owned `rd_kafka_error_t` (returned by some setters).
struct OwnedError(*mut rd::rd_kafka_error_t);

impl Drop for OwnedError {
    fn drop(&mut self) {
        // SAFETY: we own the error object.
        unsafe { rd::rd_kafka_error_destroy(self.0) };
    }
}

/// Owned `rd_kafka_topic_partition_list_t`.
struct PartitionList {
    ptr: *mut rd::rd_kafka_topic_partition_list_t,
}

impl PartitionList {
    fn new<'a>(
        op: &'static str,
        items: impl Iterator<Item = (&'a str, i32, Option<i64>)>,
    ) -> Result<PartitionList, AdminError> {
        // SAFETY: creating an empty list has no preconditions.
        let ptr = unsafe { rd::rd_kafka_topic_partition_list_new(0) };
        let list = PartitionList { ptr };
        for (topic, partition, offset) in items {
            let topic_c = c_string(op, topic)?;
            // SAFETY: the list is valid; topic_c is NUL-terminated and copied by librdkafka;
            // the returned element belongs to the list and is written before any other call.
            unsafe {
                let elem =
                    rd::rd_kafka_topic_partition_list_add(list.ptr, topic_c.as_ptr(), partition);
                if let Some(offset) = offset {
                    (*elem).offset = offset;
                }
            }
        }
        Ok(list)
    }
}

impl Drop for PartitionList {
    fn drop(&mut self) {
        // SAFETY: we own the list; librdkafka copied it into the request.
        unsafe { rd::rd_kafka_topic_partition_list_destroy(self.ptr) };
    }
}

/// Owned `rd_kafka_ConfigResource_t`.
struct ConfigResource {
    ptr: *mut rd::rd_kafka_ConfigResource_t,
}

impl ConfigResource {
    fn topic(op: &'static str, topic: &str) -> Result<ConfigResource, AdminError> {
        let name = c_string(op, topic)?;
        // SAFETY: name is NUL-terminated and copied by librdkafka.
        let ptr = unsafe {
            rd::rd_kafka_ConfigResource_new(
                rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
                name.as_ptr(),
            )
        };
        if ptr.is_null() {
            return Err(AdminError::InvalidRequest {
                op,
                message: format!("invalid topic name '{topic}'"),
            });
        }
        Ok(ConfigResource { ptr })
    }

    fn add_incremental(&self, op: &'static str, change: &AlterConfigOp) -> Result<(), AdminError> {
        use rd::rd_kafka_AlterConfigOpType_t as T;
        let (kind, value) = match &change.op {
            AlterOp::Set(v) => (T::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET, Some(v.as_str())),
            AlterOp::Delete => (T::RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE, None),
            AlterOp::Append(v) => (T::RD_KAFKA_ALTER_CONFIG_OP_TYPE_APPEND, Some(v.as_str())),
            AlterOp::Subtract(v) => (T::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SUBTRACT, Some(v.as_str())),
        };
        let key = c_string(op, &change.key)?;
        let value = value.map(|v| c_string(op, v)).transpose()?;
        let value_ptr = value.as_ref().map_or(ptr::null(), |v| v.as_ptr());
        // SAFETY: the resource is valid; key and value are NUL-terminated (or null for delete)
        // and copied by librdkafka.
        let error = unsafe {
            rd::rd_kafka_ConfigResource_add_incremental_config(
                self.ptr,
                key.as_ptr(),
                kind,
                value_ptr,
            )
        };
        if error.is_null() {
            return Ok(());
        }
        let error = OwnedError(error);
        // SAFETY: error is a valid, owned error object.
        let message = unsafe { owned_string(rd::rd_kafka_error_string(error.0)) };
        Err(AdminError::InvalidRequest {
            op,
            message: format!("config '{}': {message}", change.key),
        })
    }
}

impl Drop for ConfigResource {
    fn drop(&mut self) {
        // SAFETY: we own the resource; librdkafka copied it into the request.
        unsafe { rd::rd_kafka_ConfigResource_destroy(self.ptr) };
    }
}

/// Owned `rd_kafka_ListConsumerGroupOffsets_t`.
struct ListGroupOffsetsRequest(*mut rd::rd_kafka_ListConsumerGroupOffsets_t);

impl Drop for ListGroupOffsetsRequest {
    fn drop(&mut self) {
        // SAFETY: we own the request object; librdkafka copied it into the request op.
        unsafe { rd::rd_kafka_ListConsumerGroupOffsets_destroy(self.0) };
    }
}

fn c_string(op: &'static str, s: &str) -> Result<CString, AdminError> {
    CString::new(s).map_err(|_| AdminError::InvalidRequest {
        op,
        message: format!("name {s:?} contains a NUL byte"),
    })
}

fn c_strings<'a>(
    op: &'static str,
    items: impl Iterator<Item = &'a str>,
) -> Result<Vec<CString>, AdminError> {
    items.map(|s| c_string(op, s)).collect()
}

/// A C array returned by librdkafka as a slice (empty for a null pointer).
///
/// # Safety
/// `ptr` must be null or point at `len` initialised elements that outlive the returned slice.
unsafe fn native_slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: per the contract.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// The elements of a librdkafka partition list (empty for null).
///
/// # Safety
/// `list` must be null or a valid list that outlives the returned slice.
unsafe fn partition_list<'a>(
    list: *const rd::rd_kafka_topic_partition_list_t,
) -> &'a [rd::rd_kafka_topic_partition_t] {
    if list.is_null() {
        return &[];
    }
    // SAFETY: list is valid; elems points at cnt elements.
    unsafe { native_slice((*list).elems, usize::try_from((*list).cnt).unwrap_or(0)) }
}

/// A copy of a C string, or `None` for null.
///
/// # Safety
/// `s` must be null or a valid NUL-terminated string.
unsafe fn optional_string(s: *const c_char) -> Option<String> {
    if s.is_null() {
        None
    } else {
        // SAFETY: per the contract.
        Some(unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
    }
}

/// A copy of a C string, empty for null.
///
/// # Safety
/// As [`optional_string`].
unsafe fn owned_string(s: *const c_char) -> String {
    // SAFETY: per the contract.
    unsafe { optional_string(s) }.unwrap_or_default()
}

/// Code and message of an `rd_kafka_error_t`, or `None` for null / no error.
///
/// # Safety
/// `err` must be null or a valid error object.
unsafe fn error_parts(err: *const rd::rd_kafka_error_t) -> Option<(RDKafkaErrorCode, String)> {
    if err.is_null() {
        return None;
    }
    // SAFETY: err is valid per the contract.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_error_code(err),
            optional_string(rd::rd_kafka_error_string(err)),
        )
    };
    if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    Some((code.into(), broker_message(code, message)))
}

/// The per-partition error stored in a result partition, if any.
fn partition_error(
    op: &'static str,
    topic: &str,
    tp: &rd::rd_kafka_topic_partition_t,
) -> Option<AdminError> {
    (tp.err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR).then(|| AdminError::Resource {
        op,
        resource: format!("topic '{topic}' partition {}", tp.partition),
        code: tp.err.into(),
        message: String::new(),
    })
}

/// The broker's message without librdkafka's generic text for the code (which `Display`
/// already shows), on one line.
fn broker_message(code: RDKafkaRespErr, message: Option<String>) -> String {
    let message = message.unwrap_or_default();
    let generic = error_text(code.into());
    if message.is_empty() || message == generic || generic.ends_with(&format!(": {message}")) {
        return String::new();
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn non_negative<T: Default + PartialOrd>(value: T) -> Option<T> {
    (value >= T::default()).then_some(value)
}
