//! The files and help screens a user reads each setting from must say what
//! its definition (`config/table.rs`) says, and name no setting that has
//! none. They live beside the command line because `--help` is rendered
//! from it; the config layer itself knows nothing of the commands.

use crate::config::table::*;
use std::collections::BTreeSet;

const DOTENV_EXAMPLE: &str = include_str!("../../.env.example");
const CONFIGURATION_DOC: &str = include_str!("../../docs/configuration.md");

/// Variables the files may name that are not settings of ours: the
/// log filter, a venue's secret, and the docs' example of a misspelt
/// setting.
const NOT_SETTINGS: [&str; 3] = ["RUST_LOG", "B2C2_API_TOKEN", "MARKUP_BSP"];

fn def(env: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|def| def.env == env)
}

/// Every word shaped like a variable (`MAX_NOTIONAL`), in order.
fn variable_like_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .filter(|word| {
            word.contains('_')
                && word.starts_with(|c: char| c.is_ascii_uppercase())
                && !word.ends_with('_')
        })
        .collect()
}

#[test]
fn every_setting_has_one_variable_and_one_flag() {
    let envs: BTreeSet<_> = SETTINGS.iter().map(|def| def.env).collect();
    let flags: BTreeSet<_> = SETTINGS.iter().map(|def| def.flag).collect();
    assert_eq!((envs.len(), flags.len()), (SETTINGS.len(), SETTINGS.len()));
    assert_eq!(
        SETTING_NAMES.to_vec(),
        SETTINGS.iter().map(|def| def.env).collect::<Vec<_>>()
    );
}

#[test]
fn defaults_are_accepted_by_their_own_setting() {
    for def in SETTINGS {
        let unset = None;
        let accepted = match def.accepts {
            Accepts::Decimal { .. } | Accepts::Above { .. } | Accepts::AtLeast { .. } => {
                def.decimal(&unset).is_ok()
            }
            Accepts::Whole { .. } => def.whole(&unset).is_ok(),
            _ => true,
        };
        assert!(accepted, "{}'s default is refused", def.env);
    }
}

#[test]
fn the_example_env_file_sets_every_setting_to_its_default() {
    let mut seen = BTreeSet::new();
    for line in DOTENV_EXAMPLE.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=').expect("KEY=value");
        let def = def(key).unwrap_or_else(|| panic!(".env.example sets {key}, not a setting"));
        assert_eq!(
            value,
            def.default_value().unwrap_or(""),
            ".env.example {key}"
        );
        assert!(seen.insert(key), ".env.example sets {key} twice");
    }
    assert_eq!(seen, SETTING_NAMES.into_iter().collect());
    for word in variable_like_words(DOTENV_EXAMPLE) {
        assert!(
            def(word).is_some() || NOT_SETTINGS.contains(&word),
            ".env.example names {word}, not a setting"
        );
    }
}

#[test]
fn the_configuration_doc_has_one_true_row_per_setting() {
    let mut seen = BTreeSet::new();
    for row in CONFIGURATION_DOC.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (env, flag, default, meaning) = (
            cells[1].trim_matches('`'),
            cells[2].trim_matches('`'),
            cells[3].replace('`', ""),
            cells[4],
        );
        let def =
            def(env).unwrap_or_else(|| panic!("the docs have a row for {env}, not a setting"));
        assert!(seen.insert(env), "the docs have two rows for {env}");
        assert!(
            flag == def.flag || flag.starts_with(&format!("{}[=", def.flag)),
            "{env}: the docs say {flag}, the flag is {}",
            def.flag
        );
        let expected = match def.fallback {
            Fallback::Value(value) => value,
            Fallback::Absent { means, .. } => means,
        };
        assert!(
            default.starts_with(expected),
            "{env}: the docs' default is {default}, not {expected}"
        );
        if let Some(range) = def.accepts.docs_range() {
            assert!(
                meaning.contains(&range),
                "{env}: the docs do not give its range {range}"
            );
        }
    }
    assert_eq!(seen, SETTING_NAMES.into_iter().collect());
    for word in variable_like_words(CONFIGURATION_DOC) {
        assert!(
            def(word).is_some() || NOT_SETTINGS.contains(&word),
            "the docs name {word}, not a setting"
        );
    }
}

/// Every long flag of every command, for telling a flag the docs name
/// that no command has.
fn every_flag(command: &clap::Command, flags: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        flags.extend(arg.get_long().map(|long| format!("--{long}")));
    }
    for sub in command.get_subcommands() {
        every_flag(sub, flags);
    }
}

#[test]
fn the_configuration_doc_names_only_flags_that_exist() {
    use clap::CommandFactory;
    let mut flags = BTreeSet::from(["--help".to_string()]);
    every_flag(&super::Cli::command(), &mut flags);
    let named = CONFIGURATION_DOC
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| {
            word.strip_prefix("--")
                .is_some_and(|name| name.starts_with(|c: char| c.is_ascii_lowercase()))
        });
    for flag in named {
        assert!(
            flags.contains(flag),
            "the docs name {flag}, which no command has"
        );
    }
}

/// `lp-rfq <path> --help`, rendered in-process.
fn help(path: &[&str]) -> String {
    use clap::CommandFactory;
    let mut command = super::Cli::command();
    command.build();
    let mut command = &mut command;
    for name in path {
        command = command.find_subcommand_mut(name).expect("a subcommand");
    }
    command.render_help().to_string()
}

#[test]
fn each_commands_help_shows_exactly_the_settings_it_reads() {
    use crate::config::table::Group::*;
    let all = [Desk, Buffer, Lps, Blotter, Log, Tls];
    let cases: [(&[&str], &[Group]); 7] = [
        (&[], &all),
        (&["quote"], &all),
        (&["serve"], &all),
        (&["lps"], &[Lps, Buffer, Log]),
        (&["report"], &[Blotter, Log]),
        (&["scenarios"], &[Log]),
        (&["bench"], &[Log]),
    ];
    for (path, groups) in cases {
        let help = help(path);
        let left_out: &[&str] = match path {
            // A read-only command has no use for "record nothing".
            ["report"] => &["NO_BLOTTER"],
            // The server has a certificate; a console trusts one.
            ["serve"] => &["DESK_CA_FILE"],
            [] | ["quote"] => &["DESK_TLS_CERT", "DESK_TLS_KEY"],
            _ => &[],
        };
        for def in SETTINGS {
            let listed = help.contains(&format!("[env: {}=", def.env));
            assert_eq!(
                listed,
                groups.contains(&def.group) && !left_out.contains(&def.env),
                "{path:?} --help and {}",
                def.env
            );
            if !listed {
                continue;
            }
            let usage = match def.accepts {
                Accepts::Bool => format!("{}[=<{}>]", def.flag, def.value_name),
                _ => format!("{} <{}>", def.flag, def.value_name),
            };
            assert!(help.contains(&usage), "{path:?} --help lacks {usage}");
            assert!(
                help.contains(&format!("{} [env: {}=", def.help_line(), def.env)),
                "{path:?} --help lacks {}'s help line",
                def.env
            );
        }
    }
}

#[test]
fn help_lines_are_written_from_the_definition() {
    assert_eq!(
        MARKUP_BPS.help_line(),
        "Desk markup added to the LP price, in bps, 0 to 500 [default: 5.0]"
    );
    assert_eq!(
        FADE_LIMIT_PCT.help_line(),
        "Above this smoothed last-look reject rate, in percent (1 to 100), an LP is fading: execution prefers a clean LP [default: 25]"
    );
    assert_eq!(
        SEED.help_line(),
        "Seed for every random choice, for repeatable runs [default: random]"
    );
    assert_eq!(
        SCENARIO.help_line(),
        "Replay a scenario's scripted LPs instead of the mock LPs (see `lp-rfq scenarios`)"
    );
}
