//! `--generate`: shell completions and the man page, from the same clap definitions.

use clap::CommandFactory;

use super::Cli;

/// What `--generate` prints (ripgrep's interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    CompleteBash,
    CompleteZsh,
    CompleteFish,
    Man,
}

impl Generate {
    /// The script or page, for `earlyexit` and its short name `ee`: the run's options and, as
    /// subcommands, `telemetry` and `serve` (whose definitions live with the commands).
    pub fn render(self, telemetry: clap::Command, serve: clap::Command) -> Vec<u8> {
        let described = || {
            Cli::command()
                .subcommand(telemetry.clone().name("telemetry"))
                .subcommand(serve.clone().name("serve"))
                .args_conflicts_with_subcommands(true)
        };
        let mut out = Vec::new();
        let shell = match self {
            Generate::CompleteBash => clap_complete::Shell::Bash,
            Generate::CompleteZsh => clap_complete::Shell::Zsh,
            Generate::CompleteFish => clap_complete::Shell::Fish,
            Generate::Man => {
                clap_mangen::Man::new(described())
                    .render(&mut out)
                    .expect("writing to memory");
                return out;
            }
        };
        for name in ["earlyexit", "ee"] {
            clap_complete::generate(shell, &mut described(), name, &mut out);
        }
        out
    }
}
