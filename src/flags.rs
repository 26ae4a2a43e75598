//! The settings flags, in groups: a subcommand flattens only the groups
//! it reads, so its `--help` lists only the flags it uses (`scenarios`
//! shows no markup, `report` no LP settings). Each flag is built from its
//! [`crate::config::SettingDef`] (long name, variable, help, placeholder);
//! each group fills its part of the flat [`SettingsArgs`] that
//! [`crate::config::Settings::from_args`] validates; a setting of a group a
//! command does not take is never read, so a bad one cannot stop that
//! command.

use std::marker::PhantomData;

use crate::config::{self, Group, SettingDef, SettingsArgs};

/// A flag group: which settings of [`config::SETTINGS`] it holds.
pub trait FlagGroup {
    const GROUP: Group;
    /// Settings of the group this set of flags leaves out (by variable).
    const LEAVES_OUT: &'static [&'static str] = &[];
}

/// The settings a group's flags hold.
fn defs_of<G: FlagGroup>() -> impl Iterator<Item = &'static SettingDef> {
    config::in_group(G::GROUP).filter(|def| !G::LEAVES_OUT.contains(&def.env))
}

/// The flags of one group, built from their definitions: long name,
/// variable, help line and placeholder all come from [`SettingDef`].
#[derive(Debug, Clone)]
pub struct GroupFlags<G> {
    /// Only this group's fields are ever set.
    values: SettingsArgs,
    /// The settings typed as flags (not read from the environment): a
    /// flag the command will not use is refused by name, while the same
    /// variable in an operator's environment is only the machine's.
    typed: Vec<&'static SettingDef>,
    group: PhantomData<G>,
}

impl<G> Default for GroupFlags<G> {
    fn default() -> Self {
        GroupFlags {
            values: SettingsArgs::default(),
            typed: Vec::new(),
            group: PhantomData,
        }
    }
}

/// What the desk charges, what moves the lock and how a stream runs: read by the console, the prompt and `quote`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Desk;
impl FlagGroup for Desk {
    const GROUP: Group = Group::Desk;
}
pub(crate) type DeskFlags = GroupFlags<Desk>;

/// The client's validity buffer: read wherever LP validities meet it (streams, and `lps` to check the mocks' validity against it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Buffer;
impl FlagGroup for Buffer {
    const GROUP: Group = Group::Buffer;
}
pub(crate) type BufferFlags = GroupFlags<Buffer>;

/// Which LPs are asked and how: the venues file, a scenario or the built-in mocks; read by streams and `lps`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lps;
impl FlagGroup for Lps {
    const GROUP: Group = Group::Lps;
}
pub(crate) type LpFlags = GroupFlags<Lps>;

/// Where events are recorded: read by streams and `report`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blotter;
impl FlagGroup for Blotter {
    const GROUP: Group = Group::Blotter;
}
pub(crate) type BlotterFlags = GroupFlags<Blotter>;

/// Where the blotter is read from, for `report`: without `--no-blotter`,
/// since recording nothing means nothing to a command that writes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadBlotter;
impl FlagGroup for ReadBlotter {
    const GROUP: Group = Group::Blotter;
    const LEAVES_OUT: &'static [&'static str] = &[config::NO_BLOTTER.env];
}
pub(crate) type ReadBlotterFlags = GroupFlags<ReadBlotter>;

/// Where logs go: read by every command.
#[derive(Debug, Clone, Copy, Default)]
pub struct Log;
impl FlagGroup for Log {
    const GROUP: Group = Group::Log;
}
pub(crate) type LogFlags = GroupFlags<Log>;

/// The desk server's certificate and key: read by `serve` only.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeTls;
impl FlagGroup for ServeTls {
    const GROUP: Group = Group::Tls;
    const LEAVES_OUT: &'static [&'static str] = &[config::DESK_CA_FILE.env];
}
pub(crate) type ServeTlsFlags = GroupFlags<ServeTls>;

/// The CA a console trusts a desk server by: read by the console, the
/// prompt and `quote` (with `--desk wss://…`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeskCa;
impl FlagGroup for DeskCa {
    const GROUP: Group = Group::Tls;
    const LEAVES_OUT: &'static [&'static str] =
        &[config::DESK_TLS_CERT.env, config::DESK_TLS_KEY.env];
}
pub(crate) type DeskCaFlags = GroupFlags<DeskCa>;

impl<G: FlagGroup> GroupFlags<G> {
    /// Writes this group's settings into `args`.
    pub(crate) fn fill(&self, args: &mut SettingsArgs) {
        let mut values = self.values.clone();
        for def in defs_of::<G>() {
            *(def.slot)(args) = (def.slot)(&mut values).take();
        }
    }
}

/// The flag of one setting.
fn flag(def: &SettingDef) -> clap::Arg {
    let arg = clap::Arg::new(def.env)
        .long(def.long())
        .env(def.env)
        .help(def.help_line())
        .value_name(def.value_name)
        .value_parser(clap::value_parser!(String))
        .action(clap::ArgAction::Set);
    match def.accepts {
        // `--no-blotter` alone means true; a value must be attached
        // (`--no-blotter=false`) so that the next word stays a word.
        config::Accepts::Bool => arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true"),
        // A scenario name never starts with a dash: one that does is a
        // forgotten value followed by the next flag.
        config::Accepts::Scenario => arg,
        // Negative numbers must reach the settings check, to be refused
        // there with the setting's name.
        _ => arg.allow_hyphen_values(true),
    }
}

impl<G: FlagGroup> clap::Args for GroupFlags<G> {
    fn augment_args(command: clap::Command) -> clap::Command {
        defs_of::<G>().fold(
            command.next_help_heading(G::GROUP.heading()),
            |command, def| command.arg(flag(def)),
        )
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl<G: FlagGroup> clap::FromArgMatches for GroupFlags<G> {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Self::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for def in defs_of::<G>() {
            if let Some(value) = matches.try_get_one::<String>(def.env).ok().flatten() {
                *(def.slot)(&mut self.values) = Some(value.clone());
                if matches.value_source(def.env) == Some(clap::parser::ValueSource::CommandLine) {
                    self.typed.push(def);
                }
            }
        }
        Ok(())
    }
}

/// Every settings group: what a stream reads (the console, the prompt,
/// `quote`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StreamFlags {
    #[command(flatten)]
    pub(crate) desk: DeskFlags,
    #[command(flatten)]
    pub(crate) buffer: BufferFlags,
    #[command(flatten)]
    pub lps: LpFlags,
    #[command(flatten)]
    pub blotter: BlotterFlags,
    #[command(flatten)]
    pub(crate) log: LogFlags,
}

impl StreamFlags {
    /// The first setting typed on the command line that a desk server
    /// owns, refused with `--desk` by name: the server's markup, LPs,
    /// blotter and stream terms apply, and a flag that would be silently
    /// ignored misleads the operator. The operator keeps their own entry
    /// checks (the notional limits) and log file.
    pub(crate) fn server_owned_flag(&self) -> Option<&'static str> {
        let operators_own = [
            config::MAX_NOTIONAL.env,
            config::MAX_NOTIONAL_PAIRS.env,
            config::MIN_NOTIONAL.env,
            config::MIN_NOTIONAL_PAIRS.env,
            config::LOG_FILE.env,
        ];
        self.desk
            .typed
            .iter()
            .chain(&self.buffer.typed)
            .chain(&self.lps.typed)
            .chain(&self.blotter.typed)
            .chain(&self.log.typed)
            .find(|def| !operators_own.contains(&def.env))
            .map(|def| def.flag)
    }

    /// The flat settings of every group.
    pub(crate) fn settings_args(&self) -> SettingsArgs {
        let mut args = SettingsArgs::default();
        self.desk.fill(&mut args);
        self.buffer.fill(&mut args);
        self.lps.fill(&mut args);
        self.blotter.fill(&mut args);
        self.log.fill(&mut args);
        args
    }
}
