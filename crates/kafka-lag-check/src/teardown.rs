//! Destroying the librdkafka clients off the answer's path.
//!
//! A one-shot check spends most of its wall time waiting, and on a quiet cluster the largest
//! wait was the destruction of its own clients, not the brokers: rust-rdkafka's
//! `AdminClient::drop` joins a thread that polls its queue every 100 ms, and dropping a
//! `BaseConsumer` that has a group id closes it with a 100 ms poll it does not cut short. That
//! was 100 to 250 ms per run against about 30 ms of real work. The clients are handed to a
//! [`Retired`] list instead and destroyed in the background, each on its own thread, once the
//! answer is known; the process prints the answer and exits without waiting for them
//! (nothing is committed or produced: nothing in flight matters).
//!
//! Except when the clients use OpenSSL (TLS, and SASL, whose SCRAM uses its HMAC): then the
//! caller waits for the destruction before the process exits (see [`Teardown::wait_if`]), as
//! OpenSSL's exit handler must not run while a librdkafka thread still shuts a connection
//! down. Over SASL_SSL without that wait, 3 runs in 150 ended in a segmentation fault at exit.

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_config::teardown;

/// Clients to destroy later. Cloning shares the list.
#[derive(Clone, Default)]
pub struct Retired(Arc<Mutex<Vec<Box<dyn Any + Send>>>>);

impl Retired {
    /// Keeps `client` (or an `Arc` of it) alive until [`Retired::destroy_in_background`].
    pub fn keep<T: Send + 'static>(&self, client: T) {
        match self.0.lock() {
            Ok(mut list) => list.push(Box::new(client)),
            // A panic elsewhere poisoned the list: destroy this one right here.
            Err(_) => drop(client),
        }
    }

    /// Destroys every kept client, each on a thread of its own (their waits overlap).
    pub fn destroy_in_background(&self) -> Teardown {
        let clients = match self.0.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(_) => Vec::new(),
        };
        Teardown(teardown::destroy_in_background(clients))
    }
}

/// A client on loan: taken for use, or retired when the guard goes (an early return, a
/// dropped future).
pub struct Held<'a, T: Send + 'static> {
    client: Option<T>,
    retired: &'a Retired,
}

impl<'a, T: Send + 'static> Held<'a, T> {
    pub fn new(client: Option<T>, retired: &'a Retired) -> Self {
        Held { client, retired }
    }

    pub fn take(&mut self) -> Option<T> {
        self.client.take()
    }
}

impl<T: Send + 'static> Drop for Held<'_, T> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.retired.keep(client);
        }
    }
}

/// The background destruction started by [`Retired::destroy_in_background`].
pub struct Teardown(teardown::Teardown);

impl Teardown {
    /// When `condition` holds, waits until every client is destroyed, for at most `limit`.
    pub fn wait_if(self, condition: bool, limit: Duration) {
        if condition {
            self.0.wait(limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(100));
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn clients_are_destroyed_in_the_background() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let retired = Retired::default();
        retired.keep(Counted(dropped.clone()));
        retired.clone().keep(Arc::new(Counted(dropped.clone())));
        let started = Instant::now();
        let teardown = retired.destroy_in_background();
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "not waited for"
        );
        teardown.wait_if(true, Duration::from_secs(5));
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        // A held client that is not taken is retired with the guard.
        drop(Held::new(Some(Counted(dropped.clone())), &retired));
        let mut held = Held::new(Some(Counted(dropped.clone())), &retired);
        let taken = held.take();
        drop(held);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);
        drop(taken);
        assert_eq!(dropped.load(Ordering::SeqCst), 3);
        retired
            .destroy_in_background()
            .wait_if(true, Duration::from_secs(5));
        assert_eq!(dropped.load(Ordering::SeqCst), 4);
        // The list is empty afterwards: a second teardown has nothing to do.
        retired
            .destroy_in_background()
            .wait_if(true, Duration::from_secs(5));
        assert_eq!(dropped.load(Ordering::SeqCst), 4);
    }
}
