//! This example's own binary in a child process: a server for the load
//! generators (`load.rs`, `soak.rs`), which prints the address it listens on
//! as the first line of its stdout, or the demo's job worker (`demo.rs`).
//! The child is killed when its handle is dropped, also when the parent
//! fails or panics.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};

/// This binary, running in a child process with its stdout piped to us.
pub(crate) struct OwnChild {
    child: Child,
    stdout: Option<BufReader<ChildStdout>>,
}

impl OwnChild {
    /// Runs this binary with `args`.
    pub(crate) fn spawn(args: &[&str]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().map(BufReader::new);
        Ok(Self { child, stdout })
    }

    /// The child's process ID.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout, for whoever reads it; `None` once taken.
    pub(crate) fn take_stdout(&mut self) -> Option<BufReader<ChildStdout>> {
        self.stdout.take()
    }

    /// Collects the child's stdout lines, as they come, on a thread of
    /// their own (it ends when the child does); `None` if already taken.
    pub(crate) fn collect_lines(&mut self) -> Option<Arc<Mutex<Vec<String>>>> {
        let stdout = self.take_stdout()?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        Some(lines)
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

impl Drop for OwnChild {
    fn drop(&mut self) {
        // Already reaped by `stop`, or the parent is failing: nothing to add.
        let _ = self.kill();
    }
}

/// A running server child and the address it printed.
pub(crate) struct ServerChild {
    process: OwnChild,
    addr: SocketAddr,
}

impl ServerChild {
    /// Runs this binary with `args` and waits for the address line.
    pub(crate) fn spawn(args: &[&str]) -> Result<Self, String> {
        // From here on, a failure kills the child through `OwnChild`'s `Drop`.
        let mut process = OwnChild::spawn(args)?;
        let mut stdout = process.take_stdout().ok_or("no stdout")?;
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        let addr = line
            .trim()
            .parse()
            .map_err(|_| format!("bad address {line:?}"))?;
        process.stdout = Some(stdout);
        Ok(Self { process, addr })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The rest of the child's stdout, after the address line; `None` once
    /// taken.
    pub(crate) fn take_stdout(&mut self) -> Option<BufReader<ChildStdout>> {
        self.process.take_stdout()
    }

    /// Kills the child (our own, by its handle) and reaps it.
    pub(crate) fn stop(self) -> Result<(), String> {
        self.process.stop()
    }
}
