//! Training from the page: a small model trains for a minute or two while its curves stream to
//! the page, then joins the gallery under its own name, to be tried at once. One run trains at
//! a time, on one thread; the others wait in a queue everyone sees. A run goes on when the page
//! that started it closes (it is short, and its model stays for anyone); `DELETE
//! /api/train/{id}` cancels a waiting run, or stops a running one where it is (its model is
//! kept, as a spent time budget keeps it).

use crate::api::{within, within_f64, ApiError};
use crate::play::Player;
use crate::stream::{self, EventStream};
use crate::{About, Models, Served};
use anyhow::Result;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use harness::run::{RunOptions, StopSignal};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;
use tch::Device;

/// Runs waiting at most; one more is refused with 429.
pub const MAX_WAITING: usize = 8;

/// What can be trained from the page.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The fully connected network on the training dataset (MNIST by default).
    MnistMlp,
    /// PyTorch's example CNN on the same images.
    MnistCnn,
    /// DQN on CartPole, the RL Zoo's setting.
    Cartpole,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::MnistMlp => "mnist-mlp",
            Kind::MnistCnn => "mnist-cnn",
            Kind::Cartpole => "cartpole",
        }
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// In the queue.
    Waiting,
    /// Training.
    Running,
    /// Trained; its model is served.
    Done,
    /// Stopped by an error.
    Failed,
    /// Cancelled while it waited.
    Cancelled,
}

impl Phase {
    fn over(self) -> bool {
        matches!(self, Phase::Done | Phase::Failed | Phase::Cancelled)
    }
}

/// One run, as the page shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Job {
    /// Its number.
    pub id: u64,
    /// What trains.
    pub kind: Kind,
    /// Its time budget.
    pub minutes: f64,
    /// Epochs (the classifiers; the budget may end them sooner).
    pub epochs: u64,
    /// Where it is.
    pub phase: Phase,
    /// Runs ahead of it in the queue (0 once it runs).
    pub ahead: usize,
    /// Its run directory, once it has one.
    pub run: Option<PathBuf>,
    /// The name its model is served under, once trained.
    pub model: Option<String>,
    /// Its result in words ("test accuracy 97.41 %"), once trained.
    pub result: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    #[serde(skip)]
    stop: StopSignal,
}

/// Where trained models go to be served.
pub struct Destinations {
    /// The classifiers (the MNIST runs join these).
    pub classifiers: Arc<Models<Served<cnn_classifier::infer::Classifier>>>,
    /// The agents (CartPole runs join these).
    pub agents: Arc<Models<Player>>,
}

/// Where and on what runs train.
#[derive(Clone, Debug)]
pub struct Place {
    /// Run directories go under this folder.
    pub runs: PathBuf,
    /// Datasets folder.
    pub data: PathBuf,
    /// The classifiers' dataset (a cnn-classifier dataset: `mnist`, `fashion-mnist`, `h5:FILE`).
    pub dataset: String,
    /// Device.
    pub device: Device,
}

/// The queue and the thread that trains.
pub struct Trainer {
    jobs: Arc<Mutex<Vec<Job>>>,
    queue: mpsc::Sender<u64>,
}

impl Trainer {
    /// Starts the training thread.
    pub fn start(place: Place, to: Destinations) -> Result<Trainer> {
        let jobs: Arc<Mutex<Vec<Job>>> = Arc::default();
        let (queue, waiting) = mpsc::channel::<u64>();
        let shared = jobs.clone();
        std::thread::Builder::new().name("trainer".into()).spawn(move || {
            while let Ok(id) = waiting.recv() {
                let Some(job) = update(&shared, id, |job| {
                    if job.phase == Phase::Waiting {
                        job.phase = Phase::Running;
                    }
                }) else {
                    continue;
                };
                if job.phase != Phase::Running {
                    continue; // cancelled while it waited
                }
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    train(&job, &place, &to, &shared)
                }));
                let outcome = outcome.unwrap_or_else(|_| Err(anyhow::anyhow!("training panicked")));
                update(&shared, id, |job| match outcome {
                    Ok((model, result)) => {
                        (job.phase, job.model, job.result) =
                            (Phase::Done, Some(model), Some(result))
                    }
                    Err(e) => (job.phase, job.error) = (Phase::Failed, Some(format!("{e:#}"))),
                });
            }
        })?;
        Ok(Trainer { jobs, queue })
    }

    /// Every run this gallery has seen, the queue's position of each one waiting filled in.
    pub fn list(&self) -> Vec<Job> {
        let jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let mut ahead = 0;
        jobs.iter()
            .map(|job| {
                let mut job = job.clone();
                match job.phase {
                    Phase::Running => ahead += 1,
                    Phase::Waiting => {
                        job.ahead = ahead;
                        ahead += 1;
                    }
                    _ => {}
                }
                job
            })
            .collect()
    }

    fn get(&self, id: u64) -> Result<Job, ApiError> {
        let found = self.list().into_iter().find(|job| job.id == id);
        found.ok_or_else(|| ApiError::not_found(format!("no training run number {id}")))
    }
}

/// Applies `change` to run `id`; returns it changed.
fn update(jobs: &Mutex<Vec<Job>>, id: u64, change: impl FnOnce(&mut Job)) -> Option<Job> {
    let mut jobs = jobs.lock().unwrap_or_else(PoisonError::into_inner);
    let job = jobs.iter_mut().find(|job| job.id == id)?;
    change(job);
    Some(job.clone())
}

/// Trains `job`'s model; returns the name it is served under and its result in words.
fn train(
    job: &Job,
    place: &Place,
    to: &Destinations,
    jobs: &Mutex<Vec<Job>>,
) -> Result<(String, String)> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let run = place.runs.join(format!("{stamp}-{}-{}", job.id, job.kind.name()));
    update(jobs, job.id, |j| j.run = Some(run.clone()));
    let options = RunOptions {
        out: Some(run.clone()),
        max_minutes: Some(job.minutes),
        quiet: true,
        stop: job.stop.clone(),
        ..RunOptions::new(place.device)
    };
    let name = format!("mine-{}-{}", job.kind.name(), job.id);
    match job.kind {
        Kind::MnistMlp | Kind::MnistCnn => {
            use cnn_classifier::model::ModelKind;
            let model = if job.kind == Kind::MnistMlp { ModelKind::Mlp } else { ModelKind::Cnn };
            let config = cnn_classifier::train::TrainConfig {
                model,
                epochs: job.epochs,
                valid_size: 1000,
                augment: false,
                log_every: 10,
                ..cnn_classifier::train::TrainConfig::defaults_for(&place.dataset)
            };
            let summary = cnn_classifier::train::train(config, &options, &place.data)?;
            let result = format!("test accuracy {:.2} %", 100.0 * summary.test_acc);
            let about = About {
                name: name.clone(),
                summary: format!("{} trained in this gallery ({})", model, place.dataset),
                metric: result.clone(),
            };
            let load = cnn_classifier::infer::Classifier::load;
            to.classifiers.insert(crate::start(about, summary.dir, place.device, load)?);
            Ok((name, result))
        }
        Kind::Cartpole => {
            let config = dqn::config::TrainConfig {
                final_eval_episodes: 10,
                ..dqn::config::TrainConfig::cartpole()
            };
            let summary = dqn::train::train(config, &options)?;
            let result = format!("mean return {:.1} over 10 games", summary.final_eval.mean());
            let about = About {
                name: name.clone(),
                summary: format!(
                    "DQN on CartPole trained in this gallery, {} steps",
                    summary.steps
                ),
                metric: result.clone(),
            };
            to.agents.insert(Player::load(about, &summary.dir, place.device)?);
            Ok((name, result))
        }
    }
}

/// The body of `POST /api/train`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainRequest {
    /// `mnist-mlp`, `mnist-cnn` or `cartpole`.
    pub kind: Kind,
    /// Time budget in minutes (0.05 to 5).
    #[serde(default = "one")]
    pub minutes: f64,
    /// Epochs for the classifiers (1 to 20).
    #[serde(default = "one_epoch")]
    pub epochs: u64,
}

fn one() -> f64 {
    1.0
}

fn one_epoch() -> u64 {
    1
}

/// `POST /api/train`: queues a run; answers it (with its place in the queue).
pub async fn submit(
    State(gallery): State<Arc<crate::Gallery>>,
    request: Result<Json<TrainRequest>, JsonRejection>,
) -> Result<Json<Job>, ApiError> {
    let Json(r) = request?;
    let minutes = within_f64("minutes", r.minutes, 0.05..=5.0)?;
    let epochs = within("epochs", r.epochs, 1..=20)?;
    let trainer = &gallery.trainer;
    let id = {
        let mut jobs = trainer.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let waiting = jobs.iter().filter(|j| j.phase == Phase::Waiting).count();
        if waiting >= MAX_WAITING {
            return Err(ApiError::too_many(format!(
                "{waiting} runs are waiting already; try again when the queue is shorter"
            )));
        }
        let id = jobs.len() as u64 + 1;
        jobs.push(Job {
            id,
            kind: r.kind,
            minutes,
            epochs,
            phase: Phase::Waiting,
            ahead: 0,
            run: None,
            model: None,
            result: None,
            error: None,
            stop: StopSignal::default(),
        });
        id
    };
    trainer.queue.send(id).map_err(|_| ApiError::internal("the training thread has stopped"))?;
    Ok(Json(trainer.get(id)?))
}

/// `GET /api/train`: every run, the queue in order.
pub async fn jobs(State(gallery): State<Arc<crate::Gallery>>) -> Json<Vec<Job>> {
    Json(gallery.trainer.list())
}

/// `DELETE /api/train/{id}`: cancels a waiting run, or stops a running one where it is.
pub async fn cancel(
    State(gallery): State<Arc<crate::Gallery>>,
    Path(id): Path<u64>,
) -> Result<Json<Job>, ApiError> {
    let trainer = &gallery.trainer;
    trainer.get(id)?;
    update(&trainer.jobs, id, |job| match job.phase {
        Phase::Waiting => job.phase = Phase::Cancelled,
        Phase::Running => job.stop.stop(),
        _ => {}
    });
    Ok(Json(trainer.get(id)?))
}

/// A run's progress: `job` when its phase or place changes, `metrics` with each batch of new
/// logged records (its `metrics.jsonl` lines), and `end` with the run as it ended.
pub async fn follow(
    State(gallery): State<Arc<crate::Gallery>>,
    Path(id): Path<u64>,
) -> Result<EventStream, ApiError> {
    gallery.trainer.get(id)?;
    let (events, stream) = stream::channel(16);
    tokio::spawn(async move {
        let (mut last, mut sent) = (None::<(Phase, usize)>, 0usize);
        loop {
            let Ok(job) = gallery.trainer.get(id) else { return };
            if last != Some((job.phase, job.ahead)) {
                last = Some((job.phase, job.ahead));
                if !events.send_async("job", &job).await {
                    return;
                }
            }
            if let Some(run) = &job.run {
                // A line being written is skipped until it is whole.
                let records =
                    harness::metrics::read(&run.join("metrics.jsonl")).unwrap_or_default();
                if records.len() > sent {
                    let new: Vec<_> = records[sent..]
                        .iter()
                        .map(|r| serde_json::json!({ "step": r.step, "time": r.time, "values": r.values }))
                        .collect();
                    sent = records.len();
                    if !events.send_async("metrics", &new).await {
                        return;
                    }
                }
            }
            if job.phase.over() {
                events.send_async("end", &job).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    });
    Ok(stream)
}
