//! What a running host tells subscribers ([`Host::subscribe`](crate::Host::subscribe)): ticks finished,
//! versions rolled back. A broadcast channel: slow subscribers miss events (`RecvError::Lagged`) rather
//! than slow the host down.

use tokio::sync::broadcast;

/// An event of a running host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEvent {
    /// A tick ended.
    TickFinished {
        /// The instance.
        instance: String,
        /// The connector version that ran it.
        connector: String,
        /// Pages it committed.
        pages: u32,
        /// Events it committed.
        events: u64,
        /// Nothing more to fetch for now.
        caught_up: bool,
        /// Why it ended early, if it did.
        error: Option<String>,
    },
    /// A failing connector version was rolled back for an instance.
    RolledBack {
        /// The instance.
        instance: String,
        /// The version that kept failing.
        from: String,
        /// The version now active for it.
        to: String,
        /// Why, with the last failure.
        reason: String,
    },
}

/// The sending side, shared by the services that report events.
#[derive(Clone)]
pub(crate) struct Events(broadcast::Sender<StatusEvent>);

impl Events {
    pub(crate) fn new() -> Events {
        Events(broadcast::channel(1024).0)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<StatusEvent> {
        self.0.subscribe()
    }

    pub(crate) fn emit(&self, event: StatusEvent) {
        // No subscriber is fine.
        let _ = self.0.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_events_and_no_subscriber_is_fine() {
        let events = Events::new();
        events.emit(StatusEvent::RolledBack {
            instance: "a".into(),
            from: "x".into(),
            to: "y".into(),
            reason: "r".into(),
        });
        let mut rx = events.subscribe();
        events.emit(StatusEvent::TickFinished {
            instance: "a".into(),
            connector: "1.0.0".into(),
            pages: 1,
            events: 2,
            caught_up: true,
            error: None,
        });
        assert!(matches!(
            rx.recv().await.unwrap(),
            StatusEvent::TickFinished { events: 2, .. }
        ));
    }
}
