//! A throwaway `redis-server` on a free loopback port, for the demo's job
//! step and the jobs benchmark: no persistence, its working directory a
//! fresh temporary one, and the process killed, reaped and its directory
//! removed when the handle is dropped (also when the caller fails or panics).
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const STARTUP: Duration = Duration::from_secs(10);

/// Where `redis-server` is: the first directory of `PATH` that has it, else
/// `/usr/sbin` (Debian's package installs it in `/usr/bin`; some systems
/// keep servers in `/usr/sbin`, outside a user's `PATH`).
pub(crate) fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// A running `redis-server`, ours: killed and reaped on drop.
pub(crate) struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts `binary` on a free loopback port and waits (bounded) until it
    /// accepts connections.
    pub(crate) fn start(binary: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let dir = std::env::temp_dir().join(format!(
            "correlated-redis-{}-{}",
            std::process::id(),
            correlated::CorrelationId::generate()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("start {}: {e}", binary.display()));
            }
        };
        // From here on, a failure kills the server through `Drop`.
        let mut redis = Self { child, port, dir };
        redis.wait_ready()?;
        Ok(redis)
    }

    /// `redis://127.0.0.1:{port}/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let start = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("redis-server exited at startup ({status})"));
            }
            if start.elapsed() > STARTUP {
                return Err(format!(
                    "redis-server did not accept connections within {STARTUP:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Nothing to report from a drop: a server that already exited
        // fails `kill`, and `wait` then reaps it all the same.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago (the OS's choice for port 0).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
