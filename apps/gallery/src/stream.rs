//! Server-sent events fed from a worker thread. The thread sends each event and learns from the
//! answer whether the page is still there: a closed stream (stop button, aborted request, page
//! left) makes `send` return false, and the job stops there.

use axum::response::sse::{Event, KeepAlive, KeepAliveStream, Sse};
use serde::Serialize;
use std::convert::Infallible;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// The response: a stream of events.
pub type EventStream = Sse<KeepAliveStream<ReceiverStream<Result<Event, Infallible>>>>;

/// The sending end, for a worker thread or a task.
#[derive(Clone)]
pub struct Events(mpsc::Sender<Result<Event, Infallible>>);

/// A stream and the end that feeds it; up to `buffer` events wait for a slow page before
/// `send` blocks (which paces the job to the page).
pub fn channel(buffer: usize) -> (Events, EventStream) {
    let (events, stream) = mpsc::channel(buffer);
    (Events(events), Sse::new(ReceiverStream::new(stream)).keep_alive(KeepAlive::default()))
}

fn event(name: &str, data: &impl Serialize) -> Event {
    let data = serde_json::to_string(data).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    Event::default().event(name).data(data)
}

impl Events {
    /// Sends event `name` with `data` as JSON from a thread outside the async runtime; false
    /// once the page has closed the stream.
    pub fn send(&self, name: &str, data: &impl Serialize) -> bool {
        self.0.blocking_send(Ok(event(name, data))).is_ok()
    }

    /// The same from async code.
    pub async fn send_async(&self, name: &str, data: &impl Serialize) -> bool {
        self.0.send(Ok(event(name, data))).await.is_ok()
    }
}
