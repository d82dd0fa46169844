//! The live progress display on a terminal (indicatif): a spinner per running migration
//! with its elapsed time, which becomes a bar with rate and ETA once the migration reports
//! `progress(done, total)`; the other events print above it. Not on a terminal, or with
//! `-q`, [`StderrObserver`] prints plain lines instead.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::print::{StderrObserver, ms};
use retort::core::observe::{Event, Observer};

/// The observer for this process: a live display when stderr is a terminal (and not `-q`),
/// plain lines otherwise.
pub(super) fn observer(quiet: bool, verbose: bool) -> Arc<dyn Observer> {
    let plain = StderrObserver::new(quiet, verbose);
    if quiet || !std::io::stderr().is_terminal() {
        return Arc::new(plain);
    }
    Arc::new(Live {
        plain,
        running: Mutex::new(None),
        target: Box::new(ProgressDrawTarget::stderr),
    })
}

/// The migration being shown: its bar and the line printed when it finishes.
struct Running {
    bar: ProgressBar,
    title: String,
    counted: bool,
}

struct Live {
    plain: StderrObserver,
    running: Mutex<Option<Running>>,
    /// Where bars draw: stderr (a test draws into memory).
    target: Box<dyn Fn() -> ProgressDrawTarget + Send + Sync>,
}

fn spinner() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// Units per second, whole.
fn rate(state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.0}/s", state.per_sec());
}

fn counter() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} {human_pos} done ({rate}) {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key("rate", rate)
}

fn bar() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg} [{bar:30}] {percent:>3}% {human_pos}/{human_len} ({rate}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key("rate", rate)
    .progress_chars("=> ")
}

impl Observer for Live {
    fn event(&self, event: &Event<'_>) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match event {
            Event::StepStarted { .. } => {
                if let Some(old) = running.take() {
                    old.bar.finish_and_clear();
                }
                // The line plain output prints for it (this observer is never quiet).
                let title = self.plain.line(event).unwrap_or_default();
                let bar = ProgressBar::with_draw_target(None, (self.target)())
                    .with_style(spinner())
                    .with_message(title.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                *running = Some(Running {
                    bar,
                    title,
                    counted: false,
                });
            }
            Event::Progress { done, total, .. } => {
                if let Some(r) = running.as_mut() {
                    match total {
                        Some(t) if !r.counted || r.bar.length() != Some(*t) => {
                            r.bar.set_length(*t);
                            r.bar.set_style(bar());
                            r.counted = true;
                        }
                        None if !r.counted => {
                            r.bar.set_style(counter());
                            r.counted = true;
                        }
                        _ => {}
                    }
                    r.bar.set_position(*done);
                }
            }
            // A runtime's compilation: a spinner while it lasts, a line when it is done.
            Event::Compiling { .. } | Event::BuildingRuntime { .. } => {
                let title = self.plain.line(event).unwrap_or_default();
                let bar = ProgressBar::with_draw_target(None, (self.target)())
                    .with_style(spinner())
                    .with_message(title.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Some(old) = running.replace(Running {
                    bar,
                    title,
                    counted: false,
                }) {
                    old.bar.finish_and_clear();
                }
            }
            Event::Compiled { .. } | Event::BuiltRuntime { .. } => {
                if let Some(r) = running.take() {
                    r.bar.finish_and_clear();
                }
                if let Some(line) = self.plain.line(event) {
                    eprintln!("{line}");
                }
            }
            Event::StepFinished { duration, .. } => {
                if let Some(r) = running.take() {
                    r.bar.finish_and_clear();
                    eprintln!("{} ({})", r.title, ms(*duration));
                }
            }
            other => {
                if let Some(line) = self.plain.line(other) {
                    match running.as_ref() {
                        Some(r) => r.bar.println(line),
                        None => eprintln!("{line}"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retort::core::Direction;

    /// A terminal that keeps what is drawn on it.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _n: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A live display drawing on a screen the test reads.
    fn live_on_a_screen() -> (Live, Screen) {
        let screen = Screen::default();
        let drawn = screen.clone();
        let live = Live {
            plain: StderrObserver::new(false, false),
            running: Mutex::new(None),
            target: Box::new(move || ProgressDrawTarget::term_like(Box::new(drawn.clone()))),
        };
        (live, screen)
    }

    #[test]
    fn a_runtimes_compilation_shows_while_it_lasts() {
        let (live, screen) = live_on_a_screen();
        live.event(&Event::Compiling {
            what: "the python runtime 0.3.0 (abc), once per machine",
            bytes: 19_300_000,
        });
        std::thread::sleep(Duration::from_millis(400));
        let shown = screen.0.lock().unwrap().clone();
        assert!(
            shown.contains("compiling the python runtime 0.3.0 (abc), once per machine (19.3 MB)…"),
            "{shown}"
        );
        live.event(&Event::Compiled {
            what: "the python runtime 0.3.0 (abc), once per machine",
            duration: Duration::from_millis(21_400),
        });
        assert!(
            live.running.lock().unwrap().is_none(),
            "the spinner is gone"
        );
    }

    #[test]
    fn a_migrations_progress_becomes_a_bar_with_rate_and_eta() {
        let (live, screen) = live_on_a_screen();
        live.event(&Event::StepStarted {
            database: "catalog",
            revision: "r1",
            description: "backfill",
            direction: Direction::Upgrade,
        });
        live.event(&Event::Progress {
            revision: "r1",
            done: 500,
            total: Some(1000),
        });
        // Draws are rate-limited; the steady tick redraws within 120 ms.
        std::thread::sleep(Duration::from_millis(400));
        let shown = screen.0.lock().unwrap().clone();
        assert!(shown.contains("[catalog] upgrade r1: backfill"), "{shown}");
        assert!(shown.contains(" 50% 500/1,000 ("), "{shown}");
        assert!(shown.contains("/s, eta "), "{shown}");
        assert!(shown.contains("eta "), "{shown}");
        live.event(&Event::StepFinished {
            database: "catalog",
            revision: "r1",
            direction: Direction::Upgrade,
            duration: Duration::from_millis(5),
        });
        assert!(live.running.lock().unwrap().is_none(), "the bar is gone");
    }
}
