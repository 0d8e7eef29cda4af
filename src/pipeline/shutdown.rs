//! The stop signal handed to inputs.

use tokio::sync::watch;

/// Fires once when the pipeline is asked to stop. Cloneable; cheap to poll.
#[derive(Clone, Debug)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending side, held by the runtime.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

/// A new trigger and signal pair.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    /// Asks every holder of the signal to stop.
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }
}

impl Shutdown {
    /// True once the stop was asked for.
    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when the stop is asked for.
    pub async fn wait(&mut self) {
        // An error means the trigger is gone without firing: it never will.
        if self.rx.wait_for(|v| *v).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
