//! The configuration parser (`config::Config::from_str`) over arbitrary
//! text: it answers a value or an error, never panics, and an error never
//! repeats a secret-looking value back.
#![cfg_attr(fuzzing, no_main)]

#[cfg(not(fuzzing))]
mod replay;

fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = config::Config::from_str(text) {
        let _ = e.to_string();
    }
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

#[cfg(not(fuzzing))]
fn main() {
    replay::main(run);
}
