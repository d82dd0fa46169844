//! Hostile but polite: looks for ambient authority — environment, arguments, files,
//! network, stdin — and fails if it finds any. Prints to stdout and stderr, which the host
//! must capture into its log.

use std::io::Read;

use retort_guest::{Error, Migration, Result, Tx};

struct Snoop;

fn found(what: &str) -> Error {
    Error::migration(format!("the sandbox let the migration see {what}"))
}

impl Migration for Snoop {
    fn upgrade(tx: &Tx) -> Result<()> {
        println!("snoop: hello from stdout");
        eprintln!("snoop: hello from stderr");
        if let Some((k, _)) = std::env::vars().next() {
            return Err(found(&format!("environment variable {k}")));
        }
        if std::env::args().count() > 0 {
            return Err(found("program arguments"));
        }
        for path in ["/", ".", "/etc/passwd", "/tmp"] {
            if std::fs::read_dir(path).is_ok() || std::fs::File::open(path).is_ok() {
                return Err(found(&format!("the file system at {path}")));
            }
        }
        if std::fs::write("escape.txt", b"x").is_ok() {
            return Err(found("a writable directory"));
        }
        for addr in ["127.0.0.1:5432", "127.0.0.1:3306", "127.0.0.1:22"] {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Err(found(&format!("the network ({addr})")));
            }
        }
        let mut buf = [0u8; 16];
        if matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {
            return Err(found("stdin"));
        }
        tx.execute("CREATE TABLE snoop_ok (id INTEGER PRIMARY KEY)", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE snoop_ok", ())?;
        Ok(())
    }
}

retort_guest::export!(Snoop, id: "20260701000300", parents: [], description: "looks for ambient authority");
