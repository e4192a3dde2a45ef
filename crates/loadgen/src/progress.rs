//! Progress bars on a terminal; nothing when stdout is not one or with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether to draw progress and notes.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    bars: bool,
    quiet: bool,
}

impl Output {
    /// Bars only on a terminal and without `--quiet`; notes unless `--quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            bars: !quiet && std::io::stdout().is_terminal(),
            quiet,
        }
    }

    /// No bars, no notes (tests).
    pub fn silent() -> Self {
        Self {
            bars: false,
            quiet: true,
        }
    }

    /// A bar of `len` steps labelled `what`.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        let target = if self.bars {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:>12} [{bar:36.cyan/blue}] {pos}/{len} {elapsed_precise} {per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_owned());
        bar
    }

    /// A line for the person watching (stderr, so stdout stays for results).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}
