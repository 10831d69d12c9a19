//! Destroying librdkafka clients side by side, off the caller's path.
//!
//! rust-rdkafka's drop of a client waits for threads of its own: an `AdminClient` joins a thread
//! that polls its queue every 100 ms, a `ThreadedProducer` joins its polling thread, a consumer
//! closes with a poll it does not cut short. A tool that holds several clients at exit waits for
//! each in turn, 100 ms or more apiece. [`destroy_in_background`] destroys each on a thread of
//! its own; [`Teardown::wait`] waits for all of them (needed before the process exits when the
//! clients use OpenSSL, whose exit handler does not survive a librdkafka thread still shutting a
//! connection down: 3 SASL_SSL runs in 150 ended in a segmentation fault without the wait).

use std::any::Any;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Starts destroying every client (or anything that owns clients), each on a thread of its own.
pub fn destroy_in_background(clients: Vec<Box<dyn Any + Send>>) -> Teardown {
    // No thread sends: the channel closes when the last one has dropped its client.
    let (alive, done) = mpsc::channel::<()>();
    for client in clients {
        let alive = alive.clone();
        let spawned = std::thread::Builder::new()
            .name("client teardown".into())
            .spawn(move || {
                drop(client);
                drop(alive);
            });
        if let Err(e) = spawned {
            // No thread (resource limits): the client went with the closure, right here.
            log::debug!("cannot start a teardown thread: {e}");
        }
    }
    Teardown { done }
}

/// The background destruction started by [`destroy_in_background`].
pub struct Teardown {
    done: mpsc::Receiver<()>,
}

impl Teardown {
    /// Waits until every client is destroyed, for at most `limit`.
    pub fn wait(self, limit: Duration) {
        let started = Instant::now();
        let waited = loop {
            match self
                .done
                .recv_timeout(limit.saturating_sub(started.elapsed()))
            {
                Ok(()) => continue,
                Err(RecvTimeoutError::Disconnected) => break "done",
                Err(RecvTimeoutError::Timeout) => break "gave up",
            }
        };
        log::debug!("client teardown: {waited} after {:?}", started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A client whose destruction waits (up to 5 s) until `release` is set, counting how many
    /// destructions run at the same time.
    struct Blocking {
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        release: Arc<AtomicBool>,
        dropped: Arc<AtomicUsize>,
    }

    impl Drop for Blocking {
        fn drop(&mut self) {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let until = Instant::now() + Duration::from_secs(5);
            while !self.release.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// `n` clients, and the counters: most destructions at once, destructions done.
    fn clients(
        n: usize,
        release: &Arc<AtomicBool>,
    ) -> (Vec<Box<dyn Any + Send>>, [Arc<AtomicUsize>; 2]) {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let list = (0..n)
            .map(|_| {
                Box::new(Blocking {
                    running: Arc::clone(&running),
                    most: Arc::clone(&most),
                    release: Arc::clone(release),
                    dropped: Arc::clone(&dropped),
                }) as Box<dyn Any + Send>
            })
            .collect();
        (list, [most, dropped])
    }

    #[test]
    fn destroys_every_client_side_by_side_and_waits_for_all() {
        let release = Arc::new(AtomicBool::new(false));
        let (list, [most, dropped]) = clients(4, &release);
        let releaser = {
            let (release, most) = (Arc::clone(&release), Arc::clone(&most));
            std::thread::spawn(move || {
                // Released once all four destructions run at once (one after the other, they
                // never would: each would wait its 5 s out).
                let until = Instant::now() + Duration::from_secs(5);
                while most.load(Ordering::SeqCst) < 4 && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(1));
                }
                release.store(true, Ordering::SeqCst);
            })
        };
        destroy_in_background(list).wait(Duration::from_secs(30));
        releaser.join().unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 4, "not destroyed side by side");
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            4,
            "returned before every client was gone"
        );
    }

    #[test]
    fn stops_waiting_at_the_limit() {
        let release = Arc::new(AtomicBool::new(false));
        let (list, [_, dropped]) = clients(1, &release);
        destroy_in_background(list).wait(Duration::from_millis(20));
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "waited past the limit");
        release.store(true, Ordering::SeqCst);
    }
}
