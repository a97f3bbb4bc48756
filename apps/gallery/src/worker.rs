//! One thread per model. A libtorch model is loaded on its own thread and never leaves it; the
//! web handlers send it jobs (closures over `&M`) through a channel and await the answer, so
//! the async runtime never blocks on a forward pass and two requests never race on one model.

use crate::api::ApiError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

type Job<M> = Box<dyn FnOnce(&M) + Send>;

/// A model living on its own thread, serving jobs in the order they arrive.
pub struct Worker<M> {
    name: String,
    jobs: mpsc::Sender<Job<M>>,
}

impl<M: 'static> Worker<M> {
    /// Starts a thread named `name`, loads the model there with `load` and waits until it has
    /// loaded (or failed to: the error comes back here).
    pub fn start(
        name: &str,
        load: impl FnOnce() -> anyhow::Result<M> + Send + 'static,
    ) -> anyhow::Result<Worker<M>> {
        let (jobs, queue) = mpsc::channel::<Job<M>>();
        let (ready, loaded) = mpsc::sync_channel(1);
        std::thread::Builder::new().name(name.to_string()).spawn(move || {
            let model = match load() {
                Ok(model) => {
                    let _ = ready.send(Ok(()));
                    model
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            // A job that panics loses its answer (the caller sees an error), not the worker.
            while let Ok(job) = queue.recv() {
                let _ = catch_unwind(AssertUnwindSafe(|| job(&model)));
            }
        })?;
        loaded.recv().map_err(|_| anyhow::anyhow!("{name}: the loading thread stopped"))??;
        Ok(Worker { name: name.to_string(), jobs })
    }

    /// Queues `job` without waiting for it (for streams, which answer through their own
    /// channel).
    pub fn submit(&self, job: impl FnOnce(&M) + Send + 'static) -> Result<(), ApiError> {
        self.jobs.send(Box::new(job)).map_err(|_| {
            ApiError::internal(format!("the {} model's thread has stopped", self.name))
        })
    }

    /// Runs `job` on the model's thread and returns its result.
    pub async fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&M) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.submit(move |model| {
            let _ = answer.send(job(model));
        })?;
        answered.await.map_err(|_| {
            ApiError::internal(format!("the {} model failed on this input", self.name))
        })
    }
}
