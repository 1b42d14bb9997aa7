//! The example service's log, captured in memory: what the demo prints and
//! what the end-to-end tests (tests/tests/e2e_http.rs) check. Each of them
//! uses part of it.
#![allow(dead_code)]

use std::time::Duration;

use tracing_subscriber::prelude::*;

use super::app;

#[path = "log_capture.rs"]
mod log_capture;

/// The service's log lines, kept in memory.
pub(crate) use log_capture::Logs;

impl Logs {
    pub(crate) fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.bytes())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines whose `correlation_id` field is `id`.
    pub(crate) fn carrying(&self, id: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| logged_id(line).as_deref() == Some(id))
            .collect()
    }

    /// The lines of the `/hello?n={n}` request (the handler logs `n={n}`).
    pub(crate) fn of_request(&self, n: u32) -> Vec<String> {
        let tag = format!("n={n}");
        self.lines()
            .into_iter()
            .filter(|line| line.split(' ').any(|token| token == tag))
            .collect()
    }

    /// Waits (bounded) for a line that carries `id` and contains `text`.
    pub(crate) async fn wait_for(&self, id: &str, text: &str) -> Option<String> {
        for _ in 0..1_000 {
            let found = self
                .carrying(id)
                .into_iter()
                .find(|line| line.contains(text));
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Logs {
    /// Installs the process's global subscriber, configured as the example
    /// service logs (its filter, its user slot), writing into this capture.
    ///
    /// # Panics
    ///
    /// If the process already has a global subscriber.
    pub(crate) fn install(&self) {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(self.clone())
            .map_event_format(|format| {
                correlated::tracing::CorrelatedFormat::text(format).with_slot(&app::USER_ID)
            });
        tracing_subscriber::registry()
            .with(layer.with_filter(app::log_filter()))
            .init();
    }
}

/// The value of the line's leading `correlation_id` field: bare up to the
/// next space, or a quoted string with `\"` and `\\` escapes.
pub(crate) fn logged_id(line: &str) -> Option<String> {
    logged_field(line, "correlation_id")
}

/// The value of `name` among the fields `CorrelatedFormat` writes first on
/// a text line (`correlation_id=… job_id=… …`); `None` if the line has no
/// such leading field.
pub(crate) fn logged_field(line: &str, name: &str) -> Option<String> {
    let mut rest = line;
    loop {
        let (key, after) = rest.split_once('=')?;
        // A space before the `=`: past the leading fields, into the event.
        if key.contains(' ') {
            return None;
        }
        let (value, after) = field_value(after)?;
        if key == name {
            return Some(value);
        }
        rest = after.strip_prefix(' ')?;
    }
}

/// One field value at the start of `text`, and what follows it.
fn field_value(text: &str) -> Option<(String, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(' ').unwrap_or(text.len());
        return Some((text[..end].to_owned(), &text[end..]));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    loop {
        match chars.next()? {
            (end, '"') => return Some((value, &quoted[end + 1..])),
            (_, '\\') => match chars.next()?.1 {
                'n' => value.push('\n'),
                'r' => value.push('\r'),
                't' => value.push('\t'),
                '0' => value.push('\0'),
                escaped => value.push(escaped),
            },
            (_, c) => value.push(c),
        }
    }
}
