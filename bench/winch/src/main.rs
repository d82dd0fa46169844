//! Compiles each component given with Cranelift (Retort's default, speed-optimised), Cranelift
//! at opt-level none (`RETORT_OPT_LEVEL=none`) and Winch, and prints the median of 5 compiles
//! and the compiled size of each, as Retort's engine is configured (component model, epoch
//! interruption).
use std::time::Instant;

fn engine(strategy: wasmtime::Strategy, opt: wasmtime::OptLevel) -> wasmtime::Engine {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.strategy(strategy);
    config.cranelift_opt_level(opt);
    wasmtime::Engine::new(&config).expect("an engine")
}

fn main() {
    let engines = [
        ("cranelift", engine(wasmtime::Strategy::Cranelift, wasmtime::OptLevel::Speed)),
        ("cranelift-none", engine(wasmtime::Strategy::Cranelift, wasmtime::OptLevel::None)),
        ("winch", engine(wasmtime::Strategy::Winch, wasmtime::OptLevel::Speed)),
    ];
    println!("| component | size | cranelift | cranelift, opt none | winch | cranelift ÷ winch |");
    println!("|---|---|---|---|---|---|");
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).expect("a component file");
        let mut cells = Vec::new();
        let mut medians = Vec::new();
        for (name, engine) in &engines {
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..5 {
                let t = Instant::now();
                match engine.precompile_component(&bytes) {
                    Ok(code) => size = code.len(),
                    Err(e) => {
                        eprintln!("{path}: {name}: {e:#}");
                        break;
                    }
                }
                times.push(t.elapsed().as_secs_f64());
            }
            if times.is_empty() {
                cells.push("fails".to_string());
                medians.push(f64::NAN);
                continue;
            }
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            medians.push(median);
            cells.push(format!("{:.1} ms ({} KB code)", median * 1e3, size / 1024));
        }
        let name = std::path::Path::new(&path).file_name().map_or(path.clone(), |f| f.to_string_lossy().into_owned());
        println!(
            "| {name} | {} KB | {} | {} | {} | {:.1}× |",
            bytes.len() / 1024,
            cells[0],
            cells[1],
            cells[2],
            medians[0] / medians[2]
        );
    }
}
