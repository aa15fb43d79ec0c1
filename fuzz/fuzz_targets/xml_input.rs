//! The decoding layer (BOM and declaration sniffing, transcoding, UTF-8 validation, the
//! token limit) on arbitrary bytes: never a panic, and what it hands out is UTF-8.
#![no_main]

use std::io::Read;

use iplos_model::xml_input::Utf8Input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut input) = Utf8Input::new(data, 4096) else {
        return;
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 37];
    loop {
        match input.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                input.start_token();
            }
        }
    }
    assert!(
        std::str::from_utf8(&out).is_ok(),
        "Utf8Input handed out invalid UTF-8"
    );
});
