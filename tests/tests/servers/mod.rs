//! Real Redis and NATS servers for the job tests, each started by the test on
//! a free loopback port and killed when dropped (also when the test fails or
//! panics). The binaries come from Debian's `redis-server` and `nats-server`
//! packages, which `.ci/test` installs.

#![allow(dead_code)] // each test file uses some of the helpers

use std::io::{BufRead, BufReader, Write};
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

    /// A connection to this Redis for apalis's storage. Like
    /// `apalis_redis::connect`, but patient: the servers here fsync every
    /// write, and on a loaded machine a reply can take longer than the
    /// client's default 500 ms, which stops a worker with "timed out".
    pub(crate) async fn redis_connection(&self) -> redis::aio::ConnectionManager {
        let patient = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(STARTUP))
            .set_response_timeout(Some(STARTUP));
        redis::Client::open(self.redis_url())
            .expect("a Redis URL")
            .get_connection_manager_with_config(patient)
            .await
            .expect("connect to Redis")
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
        // A name of its own, so that the readiness check knows it reached
        // this server and not another one on a reused port.
        let name = format!("correlated-test-{}-{port}", std::process::id());
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-n", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server (Debian: apt-get install nats-server)");
        Server::ready(child, port, None, |stream| nats_answers(stream, &name))
    }

    /// Waits until the server answers its own protocol's ping: an open port
    /// alone is not enough (a CI run saw nats-server reset the first client
    /// connection made right after its port opened).
    fn ready(
        child: Child,
        port: u16,
        dir: Option<PathBuf>,
        answers: impl Fn(&mut TcpStream) -> std::io::Result<bool>,
    ) -> Server {
        let mut server = Server { child, port, dir };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let start = Instant::now();
        loop {
            let answered = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).and_then(
                |mut stream| {
                    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
                    answers(&mut stream)
                },
            );
            if matches!(answered, Ok(true)) {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server for port {port} exited before it was ready: {status}");
            }
            assert!(
                start.elapsed() < STARTUP,
                "the server on port {port} did not become ready: {answered:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One line of a text protocol, without its `\r\n`.
fn read_line(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}

/// NATS: the greeting names this server, and a ping is answered.
fn nats_answers(stream: &mut TcpStream, name: &str) -> std::io::Result<bool> {
    let info = read_line(stream)?;
    if !info.starts_with("INFO ") || !info.contains(&format!("\"server_name\":\"{name}\"")) {
        return Ok(false);
    }
    stream.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")?;
    Ok(read_line(stream)? == "PONG")
}

/// Redis: a ping is answered (not `-LOADING` while the append-only file is
/// read back after a restart).
fn redis_answers(stream: &mut TcpStream) -> std::io::Result<bool> {
    stream.write_all(b"PING\r\n")?;
    Ok(read_line(stream)? == "+PONG")
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
    Server::ready(child, port, Some(dir), redis_answers)
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
