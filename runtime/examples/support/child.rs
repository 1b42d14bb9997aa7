//! A server in a child process, for the load generators (`load.rs`,
//! `soak.rs`): the example's own binary, run with server arguments, prints
//! the address it listens on as the first line of its stdout. The child is
//! killed when its handle is dropped, also when the parent fails or panics.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running server child and the address it printed.
pub(crate) struct ServerChild {
    child: Child,
    addr: SocketAddr,
    /// The rest of the child's stdout, after the address line.
    stdout: Option<BufReader<ChildStdout>>,
}

impl ServerChild {
    /// Runs this binary with `args` and waits for the address line.
    pub(crate) fn spawn(args: &[&str]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        // From here on, a failure kills the child through `Drop`.
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout: None,
        };
        let stdout = server.child.stdout.take().ok_or("no stdout")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        server.addr = line
            .trim()
            .parse()
            .map_err(|_| format!("bad address {line:?}"))?;
        server.stdout = Some(stdout);
        Ok(server)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The rest of the child's stdout, for whoever reads what it prints
    /// after its address; `None` once taken.
    pub(crate) fn take_stdout(&mut self) -> Option<BufReader<ChildStdout>> {
        self.stdout.take()
    }

    /// Kills the child (our own, by its handle) and reaps it.
    pub(crate) fn stop(mut self) -> Result<(), String> {
        self.kill()
    }

    fn kill(&mut self) -> Result<(), String> {
        if self.child.try_wait().map_err(|e| e.to_string())?.is_none() {
            self.child.kill().map_err(|e| e.to_string())?;
        }
        self.child.wait().map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        // Already reaped by `stop`, or the parent is failing: nothing to add.
        let _ = self.kill();
    }
}
