//! Every app's command line, as users run it: each binary's every subcommand answers `--help`
//! (clap checks the whole definition then: a flag defined twice, a clashing group, a bad
//! default all panic), and nonsense gets a usage error, not a panic.

use integration_tests::bin;

const APPS: [&str; 8] =
    ["basics", "cnn-classifier", "char-rnn", "seq2seq", "style-transfer", "dqn", "datasets", "dl"];

/// The subcommands `app --help` lists.
fn subcommands(app: &str) -> Vec<String> {
    let out = bin(app).arg("--help").output().unwrap();
    assert!(out.status.success(), "{app} --help failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let commands = text.split("Commands:").nth(1).unwrap_or_else(|| panic!("{app}: {text}"));
    commands
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_subcommand_of_every_binary_answers_help() {
    for app in APPS {
        let commands = subcommands(app);
        assert!(!commands.is_empty(), "{app} lists no subcommands");
        for command in commands {
            let out = bin(app).args([command.as_str(), "--help"]).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{app} {command} --help: {err}");
        }
        let out = bin(app).arg("no-such-command").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{app}: a usage error exits with 2");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}
