//! The thin binary: parse arguments, run, render diagnostics, exit with the SPEC's code.

use clap::Parser;
use licshift::{cli::Cli, commands, error::Error};
use miette::{GraphicalReportHandler, GraphicalTheme, NarratableReportHandler};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut result = commands::execute(cli, &mut out);
    // A pipeline reads stdout: output that did not all arrive (a full disk, a closed pipe) is
    // a failure, never exit 0.
    if let Err(e) = out.flush() {
        if result.is_ok() {
            result = Err(Error::Io {
                context: "writing to standard output".into(),
                source: e,
            });
        }
    }
    drop(out);
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    match result {
        Ok(ran) => {
            render_all(
                &mut err,
                ran.warnings
                    .list
                    .iter()
                    .map(|p| p as &dyn miette::Diagnostic),
            );
            if ran.warnings.suppressed > 0 {
                let _ = writeln!(err, "… and {} more warnings", ran.warnings.suppressed);
            }
            ExitCode::from(ran.code)
        }
        Err(e) => {
            let code = e.exit_code();
            match &e {
                Error::Input(problems) => {
                    render_all(
                        &mut err,
                        problems.list.iter().map(|p| p as &dyn miette::Diagnostic),
                    );
                    if problems.suppressed > 0 {
                        let _ =
                            writeln!(err, "… and {} more problems not shown", problems.suppressed);
                    }
                    let _ = writeln!(err, "error: the snapshot has {} error(s) and {} warning(s); nothing was written", problems.errors, problems.warnings);
                }
                Error::Graph(g) => {
                    render_all(&mut err, std::iter::once(g as &dyn miette::Diagnostic))
                }
                other => render_all(&mut err, std::iter::once(other as &dyn miette::Diagnostic)),
            }
            ExitCode::from(code)
        }
    }
}

/// Graphical diagnostics, in colour only on a terminal without NO_COLOR; fixed width otherwise
/// so logs and tests see the same text.
fn render_all<'a>(err: &mut impl Write, diags: impl Iterator<Item = &'a dyn miette::Diagnostic>) {
    let tty = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if tty {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let width = if tty { 120 } else { 100 };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .without_primary_span_start()
        .with_links(false);
    for d in diags {
        let mut s = String::new();
        if handler.render_report(&mut s, d).is_err() {
            s.clear();
            let _ = NarratableReportHandler::new().render_report(&mut s, d);
        }
        let _ = write!(err, "{s}");
    }
}
