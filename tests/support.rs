//! Helpers shared by the integration tests.

use tch::{Device, Kind, Tensor};

/// The vendored test data (`tests/fixtures/`, see its PROVENANCE.md).
pub fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The XOR problem: the classic function no single linear layer can represent.
pub fn xor() -> (Tensor, Tensor) {
    let x = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0]).view([4, 2]);
    let y = Tensor::from_slice(&[0i64, 1, 1, 0]);
    (x, y)
}

/// A scalar float tensor's value.
pub fn scalar(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double).to_device(Device::Cpu).double_value(&[])
}

/// A command running the workspace binary `name` (built beside this test binary: `make test`
/// builds every binary before testing; with plain `cargo test`, run `cargo build --bins` first).
pub fn bin(name: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/tests-HASH -> target/<profile>/NAME
    let path = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>").join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    std::process::Command::new(path)
}

/// Asserts that the `last` checkpoints of two runs hold bit-identical tensors: the weights,
/// and the optimizer's and the app's training state.
#[track_caller]
pub fn assert_same_checkpoints(a: &std::path::Path, b: &std::path::Path) {
    for file in ["last.safetensors", "last.optim.safetensors"] {
        let read = |run: &std::path::Path| {
            let mut t = dl_core::checkpoint::read_tensors(&run.join("checkpoints").join(file))
                .unwrap_or_else(|e| panic!("{e}"));
            t.sort_by(|x, y| x.0.cmp(&y.0));
            t
        };
        let (x, y) = (read(a), read(b));
        let names = |t: &[(String, Tensor)]| t.iter().map(|p| p.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&x), names(&y), "{file}: different tensors");
        for ((name, x), (_, y)) in x.iter().zip(&y) {
            assert!(
                x.equal(y),
                "{file}: {name} differs between {} and {}",
                a.display(),
                b.display()
            );
        }
    }
}

/// Runs test `name` (its path in the test binary, e.g. `char_rnn::a_test`) again in a process
/// of its own and asserts that it passed there; returns `true` in this process, which should
/// then return, and `false` in the child, which runs the test's body. libtorch's random
/// generator is process-wide: a test comparing two runs bit for bit must not share it with
/// tests running beside it on other threads.
pub fn rerun_alone(name: &str) -> bool {
    const CHILD: &str = "DL_TEST_ALONE";
    if std::env::var_os(CHILD).is_some() {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{name} failed alone:\n{text}");
    true
}

/// [`rerun_alone`] for the test this is called in.
#[macro_export]
macro_rules! alone {
    ($test:ident) => {{
        let module = module_path!().split_once("::").map(|m| m.1).unwrap_or_default();
        $crate::rerun_alone(&format!("{module}::{}", stringify!($test)))
    }};
}
