//! The stable-toolchain fallback shared by every target: without libFuzzer
//! (`--cfg fuzzing` absent) a target is a plain binary that runs its input
//! function on each file named on the command line (a corpus or a crash
//! artifact), or on standard input when none is named.

use std::io::Read;

pub fn main(run: fn(&[u8])) {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        let mut data = Vec::new();
        if std::io::stdin().read_to_end(&mut data).is_ok() {
            run(&data);
        }
        return;
    }
    let mut n = 0;
    for p in paths {
        let files: Vec<std::path::PathBuf> = match std::fs::read_dir(&p) {
            Ok(dir) => dir.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => vec![p.into()],
        };
        for f in files {
            if let Ok(data) = std::fs::read(&f) {
                run(&data);
                n += 1;
            }
        }
    }
    eprintln!("{n} inputs ran without a panic");
}
