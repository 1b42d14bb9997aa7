//! Real Redis and NATS servers for the job tests, each started by the test on
//! a free loopback port and killed when dropped (also when the test fails or
//! panics). The binaries come from Debian's `redis-server` and `nats-server`
//! packages, which `.ci/test` installs.

#![allow(dead_code)] // each test file uses some of the helpers

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const STARTUP: Duration = Duration::from_secs(15);

/// A server process, killed on drop.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    port: u16,
    /// Where Redis keeps its append-only file (for restarts).
    dir: Option<PathBuf>,
}

impl Server {
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub(crate) fn nats_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts `redis-server` on a free loopback port, with an append-only
    /// file (fsync on every write) in a fresh directory so that a restart
    /// ([`Server::restart_redis`]) keeps every job.
    pub(crate) fn redis() -> Server {
        let dir = std::env::temp_dir().join(format!(
            "correlated-redis-{}-{}",
            std::process::id(),
            correlated::CorrelationId::generate()
        ));
        std::fs::create_dir_all(&dir).expect("create the Redis directory");
        start_redis(free_port(), dir)
    }

    /// Kills Redis and starts it again on the same port and data directory.
    pub(crate) fn restart_redis(mut self) -> Server {
        let port = self.port;
        // Taken, so that dropping the old process keeps the data.
        let dir = self.dir.take().expect("a Redis server");
        drop(self);
        start_redis(port, dir)
    }

    /// Starts `nats-server` on a free loopback port.
    pub(crate) fn nats() -> Server {
        let port = free_port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (Debian: apt-get install nats-server)");
        Server::ready(child, port, None)
    }

    fn ready(child: Child, port: u16, dir: Option<PathBuf>) -> Server {
        let server = Server { child, port, dir };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                start.elapsed() < STARTUP,
                "the server on port {port} did not start"
            );
            thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

fn start_redis(port: u16, dir: PathBuf) -> Server {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server (Debian: apt-get install redis-server)");
    Server::ready(child, port, Some(dir))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A port that was free a moment ago (the OS's choice for port 0).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("a bound address").port()
}
