//! The background batcher behind [`crate::Client::send`]: collects events until the batch is
//! full or the flush interval passes, then sends them with retries.

use std::sync::Arc;
use std::time::Duration;

use ecomdash_protocol::WireEvent;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::ClientError;
use crate::{Command, Shared};

struct Failures {
    dropped_events: usize,
    last: Option<String>,
}

pub(crate) async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Command>, interval: Duration) {
    let mut pending: Vec<WireEvent<'static>> = Vec::with_capacity(shared.batch_size);
    let mut failures = Failures {
        dropped_events: 0,
        last: None,
    };
    let mut deadline: Option<Instant> = None;
    loop {
        let command = match deadline {
            Some(at) => tokio::select! {
                command = rx.recv() => command,
                () = tokio::time::sleep_until(at) => {
                    send(&shared, &mut pending, &mut failures).await;
                    deadline = None;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match command {
            Some(Command::Event(event)) => {
                pending.push(*event);
                if deadline.is_none() {
                    deadline = Some(Instant::now() + interval);
                }
                if pending.len() >= shared.batch_size {
                    send(&shared, &mut pending, &mut failures).await;
                    deadline = None;
                }
            }
            Some(Command::Flush(reply)) => {
                send(&shared, &mut pending, &mut failures).await;
                deadline = None;
                let result = match failures.last.take() {
                    None => Ok(()),
                    Some(last) => Err(ClientError::Background {
                        dropped_events: std::mem::take(&mut failures.dropped_events),
                        last,
                    }),
                };
                let _ = reply.send(result);
            }
            None => {
                send(&shared, &mut pending, &mut failures).await;
                return;
            }
        }
    }
}

async fn send(shared: &Shared, pending: &mut Vec<WireEvent<'static>>, failures: &mut Failures) {
    if pending.is_empty() {
        return;
    }
    let events = std::mem::take(pending);
    let count = events.len();
    if let Err(error) = shared.send_all(events).await {
        tracing::warn!(error = %error, events = count, "background batch dropped after retries");
        failures.dropped_events += count;
        failures.last = Some(error.to_string());
    }
}
