//! Running one measured process: wall time from spawn; CPU seconds (user + system, the process and
//! the children it waited for), sampled from /proc while it runs and taken exactly from `wait4`'s
//! rusage when it exits by itself; peak RSS: VmHWM sampled from /proc/PID/status.

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::BenchError;

/// What a measured process cost. `cpu_s` and `peak_rss_mb` are the values at `completed_after`.
#[derive(Debug, Clone, Copy)]
pub struct ProcessCost {
    pub cpu_s: f64,
    pub peak_rss_mb: f64,
}

/// A spawned process whose cost is sampled; killed (SIGTERM, then SIGKILL) when dropped.
pub struct MeasuredProcess {
    name: String,
    child: Child,
    pub started: Instant,
    last: ProcessCost,
    exited: Option<(i32, ProcessCost)>,
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux we run on; read it to be sure.
    exit_status::clock_ticks_per_second()
}

/// CPU seconds of a live process (all its threads, plus children it has reaped).
fn proc_cpu_s(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = &stat[stat.rfind(") ")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // state is field 3 in proc(5) numbering, i.e. index 0 here; utime = 14 -> index 11.
    let ticks: f64 = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    Some(ticks / clock_ticks())
}

/// VmHWM (peak resident set) of a live process in MB (10^6 bytes).
fn proc_hwm_mb(pid: u32) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0 / 1e6)
}

impl MeasuredProcess {
    /// Spawns `cmd` with stdout/stderr sent to `log` (a file path).
    pub fn spawn(name: &str, mut cmd: Command, log: &std::path::Path) -> Result<Self, BenchError> {
        let out = fs::File::create(log).map_err(|e| BenchError::io(log, e))?;
        let err = out.try_clone().map_err(|e| BenchError::io(log, e))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let started = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| BenchError::Spawn(format!("{name}: {:?}: {e}", cmd.get_program())))?;
        Ok(Self {
            name: name.to_string(),
            child,
            started,
            last: ProcessCost {
                cpu_s: 0.0,
                peak_rss_mb: 0.0,
            },
            exited: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Samples the cost and checks for exit. Returns the exit code once the process has exited.
    pub fn poll(&mut self) -> Option<i32> {
        if let Some((code, _)) = self.exited {
            return Some(code);
        }
        let pid = self.pid();
        if let Some(cpu) = proc_cpu_s(pid) {
            self.last.cpu_s = self.last.cpu_s.max(cpu);
        }
        if let Some(hwm) = proc_hwm_mb(pid) {
            self.last.peak_rss_mb = self.last.peak_rss_mb.max(hwm);
        }
        match exit_status::try_wait4(pid) {
            Ok(Some((code, usage))) => {
                log::debug!("{}: ru_maxrss {:.0} MB", self.name, usage.max_rss_mb);
                // Not ru_maxrss: Linux carries the parent's peak RSS (the mm copied at fork,
                // recorded at exec) into the child's, so a child of a big driver looks big.
                // The sampled VmHWM of the exec'd image is the child's own.
                let cost = ProcessCost {
                    cpu_s: usage.cpu_s.max(self.last.cpu_s),
                    peak_rss_mb: self.last.peak_rss_mb,
                };
                self.exited = Some((code, cost));
                Some(code)
            }
            Ok(None) => None,
            Err(e) => {
                log::warn!("{}: wait4: {e}", self.name);
                self.exited = Some((-1, self.last));
                Some(-1)
            }
        }
    }

    /// The cost as of now (the last sample, or the exact figures after exit).
    pub fn cost(&self) -> ProcessCost {
        self.exited.map(|(_, c)| c).unwrap_or(self.last)
    }

    /// Waits for exit up to `timeout`, sampling every `every`. `Ok(code)` or a timeout error.
    pub fn wait_exit(&mut self, timeout: Duration, every: Duration) -> Result<i32, BenchError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.poll() {
                return Ok(code);
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Timeout(format!(
                    "{} did not exit within {}",
                    self.name,
                    humantime::format_duration(timeout)
                )));
            }
            std::thread::sleep(every);
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL. Returns the exit code (or -signal).
    pub fn stop(&mut self, grace: Duration) -> i32 {
        if let Some(code) = self.poll() {
            return code;
        }
        exit_status::signal(self.pid(), libc::SIGTERM);
        if let Ok(code) = self.wait_exit(grace, Duration::from_millis(50)) {
            return code;
        }
        exit_status::signal(self.pid(), libc::SIGKILL);
        self.wait_exit(Duration::from_secs(10), Duration::from_millis(50))
            .unwrap_or(-9)
    }
}

impl Drop for MeasuredProcess {
    fn drop(&mut self) {
        if self.exited.is_none() {
            self.stop(Duration::from_secs(10));
        }
    }
}

/// The only unsafe code of the crate: `wait4` (rusage of an exited child) and `kill`.
#[allow(unsafe_code)]
mod exit_status {
    pub struct Usage {
        pub cpu_s: f64,
        /// ru_maxrss; see `poll` for why it is not reported.
        pub max_rss_mb: f64,
    }

    pub fn clock_ticks_per_second() -> f64 {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            t as f64
        } else {
            100.0
        }
    }

    /// Non-blocking wait4 on one child: `Some((exit code or -signal, usage))` once it has exited.
    pub fn try_wait4(pid: u32) -> std::io::Result<Option<(i32, Usage)>> {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; zeroed is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to locals; pid is our own child.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, libc::WNOHANG, &mut ru) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if r == 0 {
            return Ok(None);
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else if libc::WIFSIGNALED(status) {
            -libc::WTERMSIG(status)
        } else {
            -1
        };
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(Some((
            code,
            Usage {
                cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
                // ru_maxrss is in KiB on Linux.
                max_rss_mb: ru.ru_maxrss as f64 * 1024.0 / 1e6,
            },
        )))
    }

    pub fn signal(pid: u32, sig: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions; pid is our own unreaped child.
        unsafe {
            libc::kill(pid as libc::pid_t, sig);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        #[allow(clippy::zombie_processes)] // reaped by try_wait4, not by Child::wait
        fn wait4_reports_exit_code_and_cpu() {
            let child = std::process::Command::new("sh")
                .args([
                    "-c",
                    "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3",
                ])
                .spawn()
                .unwrap();
            let pid = child.id();
            let (code, usage) = loop {
                if let Some(r) = try_wait4(pid).unwrap() {
                    break r;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            };
            assert_eq!(code, 3);
            assert!(usage.cpu_s > 0.0);
            assert!(usage.max_rss_mb > 0.1);
        }
    }
}
