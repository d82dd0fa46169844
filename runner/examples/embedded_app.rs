//! An application that migrates its own database at start-up from migrations embedded in its
//! binary and signed by its release key; anything unsigned, tampered with or signed by another
//! key is refused before the database is touched.
//!
//! Usage: `embedded_app DATABASE_URL` (or `APP_DATABASE_URL`). Prints what it applied, then
//! "ready"; exits 1 with the error chain if migrating failed.

use std::process::ExitCode;
use std::sync::Arc;

use retort::{Event, Observer, Project, Runner, Target};

/// The migrations, compiled in (`retort build` + `retort sign` wrote them).
static MIGRATIONS: retort::Embedded = retort::embed!("examples/embedded_app/migrations");
/// The only key whose signatures this application accepts.
const RELEASE_KEY: &str = include_str!("embedded_app/release.pub");

/// Logs each migration as it starts, the way an application logs its start-up.
struct StartupLog;

impl Observer for StartupLog {
    fn event(&self, event: &Event<'_>) {
        if let Event::StepStarted {
            revision,
            description,
            direction,
            ..
        } = event
        {
            eprintln!("migrating: {direction} {revision} ({description})");
        }
    }
}

async fn migrate(url: &str) -> Result<(), retort::Error> {
    let mut project = Project::from_embedded(url, MIGRATIONS)?;
    project.trust(RELEASE_KEY, true)?;
    let runner = Runner::new(Arc::new(StartupLog), project.limits)?;
    for report in runner.upgrade(&project, &Target::Head).await? {
        println!("{report}");
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("APP_DATABASE_URL").ok())
    else {
        eprintln!("usage: embedded_app DATABASE_URL (or set APP_DATABASE_URL)");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(migrate(&url)) {
        Ok(()) => {
            println!("ready");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("error: cannot migrate the database: {message}");
            ExitCode::from(1)
        }
    }
}
