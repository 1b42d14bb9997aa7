//! Connecting to NATS at start-up, for the jobs example's two processes.

use std::time::Duration;

/// How many times a process tries before it gives up.
const ATTEMPTS: u32 = 10;

/// Connects to `url`, trying again (bounded, 200 ms apart) when the server
/// refuses or resets the connection: a broker started just before its
/// clients, as in the end-to-end test, may do that to the first one. Each
/// failed attempt is reported on stderr, which the JSON log does not use.
pub(crate) async fn connect(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    let mut attempt = 1;
    loop {
        match async_nats::connect(url).await {
            Ok(client) => return Ok(client),
            Err(error) if attempt < ATTEMPTS => {
                eprintln!("NATS connect attempt {attempt} of {ATTEMPTS} failed: {error}");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(error),
        }
    }
}
