//! Bad input: a WASI command (the wasi:cli world), not a migration.

fn main() {
    println!("I am not a migration");
}
