//! Faults: a training process killed with SIGKILL at any moment (mid-step, mid-checkpoint,
//! mid-log) leaves a run directory that resumes, and never a torn or lost checkpoint.

use integration_tests::bin;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Steps of the run the kills interrupt: more than 20 short lives of the process can reach on
/// any machine, so that every kill lands in a running process; a checkpoint is written at every
/// step.
const STEPS: u64 = 1_000_000;

/// The step of the run's last checkpoint, after checking that every file of it reads whole.
fn last_checkpoint(run: &Path) -> Option<u64> {
    let last = run.join("checkpoints/last.safetensors");
    let sidecar = match dl_core::checkpoint::read_sidecar(&last, char_rnn::APP) {
        Ok(sidecar) => sidecar,
        Err(_) if !run.join("checkpoints/last.json").exists() => return None,
        Err(e) => panic!("the last checkpoint's sidecar is unreadable: {e}"),
    };
    for file in ["last.safetensors", "last.optim.safetensors"] {
        let tensors = dl_core::checkpoint::read_tensors(&run.join("checkpoints").join(file));
        assert!(tensors.is_ok_and(|t| !t.is_empty()), "{file} of step {} is torn", sidecar.step);
    }
    let best = run.join("checkpoints/best.safetensors");
    assert!(dl_core::checkpoint::read_tensors(&best).is_ok(), "the best checkpoint is torn");
    Some(sidecar.step)
}

#[test]
fn a_run_killed_twenty_times_at_random_moments_resumes_and_loses_no_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(&text, "It is a truth universally acknowledged, that a single man. ".repeat(60))
        .unwrap();
    let config = dir.path().join("tiny.toml");
    let settings = format!(
        "text = [{text:?}]\nvalid_fraction = 0.1\nlayers = 1\nhidden = 32\nembedding = 8\n\
         seq_len = 16\nbatch_size = 4\nsteps = {STEPS}\neval_every = 1\nlog_every = 1\n\
         sample_length = 0\n"
    );
    std::fs::write(&config, settings).unwrap();
    let run = dir.path().join("run");
    let train = || {
        let mut cmd = bin("char-rnn");
        cmd.args(["train", "--quiet", "--device", "cpu"]).env("OMP_NUM_THREADS", "1");
        // Until its configuration is written the run is not one yet: it is started again.
        match run.join("config.toml").is_file() {
            false => cmd.arg("--out").arg(&run).arg("--config").arg(&config),
            true => cmd.arg("--resume").arg(&run),
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        cmd
    };

    // The kill moments are random but seeded: any moment must do, so no timing is asserted.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(25);
    let mut saved = None::<u64>;
    for _ in 0..20 {
        let mut child = train().spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
        if let Some(status) = child.try_wait().unwrap() {
            let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
            panic!("the run ended by itself ({status}) before it could be killed: {err}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let now = last_checkpoint(&run);
        assert!(now >= saved, "the last checkpoint went back from {saved:?} to {now:?}");
        saved = now;
    }

    // The run then goes on once more and stops cleanly at a time budget, with every
    // evaluation since its start logged once, in order, and no interrupted save left behind.
    let out = train().args(["--max-minutes", "0.01"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let last = last_checkpoint(&run).expect("a checkpoint");
    assert!(Some(last) > saved, "the resumed run made no progress from {saved:?}");
    let records = harness::metrics::read(&run.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> =
        records.iter().filter(|r| r.values.contains_key("valid_bpc")).map(|r| r.step).collect();
    assert_eq!(steps, (1..=last).collect::<Vec<_>>(), "every evaluation logged once, in order");
    let leftovers: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".next."))
        .collect();
    assert!(leftovers.is_empty(), "an interrupted save was left behind: {leftovers:?}");
}
