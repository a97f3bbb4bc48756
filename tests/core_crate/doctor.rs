//! `dl doctor` on this machine: it must find the libtorch it was built against and compute.

use harness::doctor::{Report, EXPECTED_LIBTORCH};
use integration_tests::bin;

#[test]
fn the_report_finds_libtorch_and_a_working_cpu() {
    let report = Report::gather();
    assert_eq!(
        report.libtorch_version.as_deref().map(|v| v.split('+').next().unwrap()),
        Some(EXPECTED_LIBTORCH)
    );
    assert!(report.loaded_library.as_ref().is_some_and(|p| p.ends_with("libtorch_cpu.so")));
    assert_eq!(report.smoke[0].0, "cpu");
    assert_eq!(report.smoke[0].1, Ok(()));
    assert!(report.threads.0 >= 1);
}

#[test]
fn the_binary_prints_the_report_and_exits_cleanly() {
    let out = bin("dl").arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("libtorch        {EXPECTED_LIBTORCH}")), "{text}");
    assert!(text.contains("matmul + backward on cpu: ok"), "{text}");
    let out = bin("dl").arg("docter").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}
