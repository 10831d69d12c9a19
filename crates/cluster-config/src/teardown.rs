//! Destroying librdkafka clients side by side.
//!
//! rust-rdkafka's drop of a client waits for threads of its own: an `AdminClient` joins a thread
//! that polls its queue every 100 ms, a `ThreadedProducer` joins its polling thread, a consumer
//! closes with a poll it does not cut short. A tool that holds several clients at exit waits for
//! each in turn, 100 ms or more apiece. [`destroy_together`] overlaps those waits: one thread per
//! client, and it returns once every one is destroyed (so the process never exits while a
//! librdkafka thread still runs, which OpenSSL's exit handler does not survive).

use std::any::Any;
use std::time::{Duration, Instant};

/// Destroys every client (or anything that owns clients) on a thread of its own and waits until
/// all are gone, up to `limit`; past it, the rest are left to the process exit.
pub fn destroy_together(clients: Vec<Box<dyn Any + Send>>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut threads = Vec::with_capacity(clients.len());
    for client in clients {
        match std::thread::Builder::new()
            .name("client teardown".into())
            .spawn(move || drop(client))
        {
            Ok(t) => threads.push(t),
            // No thread (resource limits): the client went with the closure, right here.
            Err(e) => log::debug!("cannot start a teardown thread: {e}"),
        }
    }
    for t in threads {
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            log::debug!("client teardown still running after {limit:?}: not waited for");
            return;
        }
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
        destroy_together(list, Duration::from_secs(30));
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
        destroy_together(list, Duration::from_millis(20));
        assert_eq!(dropped.load(Ordering::SeqCst), 0, "waited past the limit");
        release.store(true, Ordering::SeqCst);
    }
}
