//! `run --config FILE` (or `OKTA_INGEST_CONFIG`): a TOML file holding what `run` takes on the command
//! line. Its keys are `run`'s option names without the dashes (`sink`, `interval`, `admin`,
//! `webhook-auth-env`; `_` works as well as `-`) plus the global `db`; values are strings, numbers or
//! booleans (`true` for a switch such as `allow-short-interval`). The file is turned into options that
//! clap checks like typed ones, inserted after `run`, skipping every option the command line already
//! gives: the command line wins. Unknown keys and bad values are refused with the file's name.

use crate::args::Cli;
use clap::CommandFactory;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Why the file cannot be used.
#[derive(Debug)]
pub enum ConfigFileError {
    /// Reading it failed.
    Read(PathBuf, std::io::Error),
    /// It is not TOML, or a key or value is wrong.
    Invalid(PathBuf, String),
}

/// Options that are no config keys: the file itself, and switches of one invocation.
const NOT_KEYS: &[&str] = &["config", "once", "help", "version"];

/// Global options a config file may set besides `run`'s.
const GLOBAL_KEYS: &[&str] = &["db", "log-format"];

/// `argv` with the config file's options inserted after `run`, when it is a `run` with a config file.
pub fn expand(argv: Vec<OsString>) -> Result<Vec<OsString>, ConfigFileError> {
    let Some(run_at) = subcommand_index(&argv).filter(|i| argv[*i] == "run") else {
        return Ok(argv);
    };
    let Some(file) = config_path(&argv[run_at + 1..]) else {
        return Ok(argv);
    };
    let text =
        std::fs::read_to_string(&file).map_err(|e| ConfigFileError::Read(file.clone(), e))?;
    let given: Vec<String> = argv
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split('=').next().unwrap_or(a).to_string())
        .collect();
    let options = options_from(&file, &text)?;
    let mut inserted = Vec::new();
    for (key, value) in options {
        if given.contains(&key) {
            continue;
        }
        inserted.extend(value);
    }
    let mut out = argv;
    out.splice(run_at + 1..run_at + 1, inserted);
    Ok(out)
}

/// The options the file stands for, each as `(name, its argv words)`, checked by clap.
fn options_from(file: &Path, text: &str) -> Result<Vec<(String, Vec<OsString>)>, ConfigFileError> {
    let invalid = |m: String| ConfigFileError::Invalid(file.to_path_buf(), m);
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(e.message().to_string()))?;
    let cli = Cli::command();
    let run = cli
        .find_subcommand("run")
        .ok_or_else(|| invalid("no run command".into()))?;
    let known: Vec<(String, bool)> = run
        .get_arguments()
        .chain(cli.get_arguments())
        .filter_map(|a| Some((a.get_long()?.to_string(), a.get_action().takes_values())))
        .filter(|(long, _)| !NOT_KEYS.contains(&long.as_str()))
        .filter(|(long, _)| {
            GLOBAL_KEYS.contains(&long.as_str())
                || run.get_arguments().any(|a| a.get_long() == Some(long))
        })
        .collect();
    let mut out = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let Some((_, takes_value)) = known.iter().find(|(k, _)| *k == name) else {
            let mut names: Vec<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
            names.sort_unstable();
            return Err(invalid(format!(
                "unknown key `{key}`; the keys are: {}",
                names.join(", ")
            )));
        };
        let words = match (value, takes_value) {
            (toml::Value::Boolean(true), false) => vec![OsString::from(format!("--{name}"))],
            (toml::Value::Boolean(false), false) => vec![],
            (toml::Value::String(s), true) => vec![OsString::from(format!("--{name}={s}"))],
            (toml::Value::Integer(n), true) => vec![OsString::from(format!("--{name}={n}"))],
            (toml::Value::Float(f), true) => vec![OsString::from(format!("--{name}={f}"))],
            (_, false) => return Err(invalid(format!("`{key}` is a switch: give true or false"))),
            (other, true) => {
                return Err(invalid(format!(
                    "`{key}` needs a string or a number, not {}",
                    other.type_str()
                )))
            }
        };
        out.push((name, words));
    }
    // Let clap check every value now, so a bad one names the file rather than a flag nobody typed.
    let mut probe: Vec<OsString> = vec!["okta-ingest".into(), "run".into()];
    probe.extend(out.iter().flat_map(|(_, w)| w.iter().cloned()));
    if let Err(e) = Cli::command().try_get_matches_from(probe) {
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or("invalid value").trim();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        return Err(invalid(first.to_string()));
    }
    Ok(out)
}

/// Where the subcommand is in `argv` (skipping global options and their values).
fn subcommand_index(argv: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].to_str()?;
        if a == "--db" || a == "--log-format" {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// `--config FILE` / `--config=FILE` among `run`'s arguments, else `OKTA_INGEST_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("OKTA_INGEST_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl std::error::Error for ConfigFileError {}

impl std::fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigFileError::Read(p, e) => {
                write!(f, "cannot read config file {}: {e}", p.display())
            }
            ConfigFileError::Invalid(p, m) => write!(f, "config file {}: {m}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn with_file(text: &str, words: &[&str]) -> Result<Vec<String>, ConfigFileError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("okta-ingest.toml");
        std::fs::write(&file, text).unwrap();
        let mut a = argv(words);
        a.push("--config".into());
        a.push(file.clone().into());
        expand(a).map(|v| {
            v.into_iter()
                .map(|s| {
                    s.to_string_lossy()
                        .replace(&file.display().to_string(), "FILE")
                })
                .collect()
        })
    }

    #[test]
    fn keys_become_options_after_run_and_the_command_line_wins() {
        let out = with_file(
            "sink = \"file:/tmp/x.jsonl\"\ninterval = \"10m\"\nwebhook_retries = 3\nallow-short-interval = true\ndb = \"/var/lib/okta-ingest/state.db\"\n",
            &["okta-ingest", "-v", "run", "--interval", "7m"],
        )
        .unwrap();
        assert_eq!(
            out,
            [
                "okta-ingest",
                "-v",
                "run",
                "--allow-short-interval",
                "--db=/var/lib/okta-ingest/state.db",
                "--sink=file:/tmp/x.jsonl",
                "--webhook-retries=3",
                "--interval",
                "7m",
                "--config",
                "FILE"
            ]
        );
        use clap::Parser;
        let cli = Cli::try_parse_from(out).expect("clap accepts the result");
        let crate::args::Command::Run(run) = cli.command else {
            panic!("run")
        };
        assert_eq!(
            run.interval,
            std::time::Duration::from_secs(420),
            "the command line won"
        );
        assert_eq!(run.sink, "file:/tmp/x.jsonl");
        assert_eq!(run.sinks.webhook.webhook_retries, 3);
        assert!(run.allow_short_interval);
        assert_eq!(
            cli.db.as_deref(),
            Some(Path::new("/var/lib/okta-ingest/state.db"))
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file() {
        let e = with_file("snk = \"stdout\"\n", &["okta-ingest", "run"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("okta-ingest.toml") && e.contains("unknown key `snk`") && e.contains("sink"),
            "{e}"
        );
        let e = with_file("interval = \"soon\"\n", &["okta-ingest", "run"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("okta-ingest.toml") && e.contains("soon"), "{e}");
        let e = with_file("once = true\n", &["okta-ingest", "run"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key `once`"), "{e}");
        let e = with_file("interval = true\n", &["okta-ingest", "run"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a string or a number"), "{e}");
        let e = with_file("sink = [1\n", &["okta-ingest", "run"])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("config file "), "{e}");
    }

    #[test]
    fn other_commands_and_runs_without_a_file_are_untouched() {
        let a = argv(&["okta-ingest", "--db", "run", "status"]);
        assert_eq!(
            expand(a.clone()).unwrap(),
            a,
            "`run` here is the --db value"
        );
    }
}
