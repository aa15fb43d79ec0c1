//! Determinism: the same seed gives byte-identical output, and a kommune's output does not
//! depend on what else was generated before it, nor on the thread.

use iplos_generators::{GenConfig, KommuneData, generate_kommune};
use iplos_model::municipality::lookup;

fn bytes(year: u16, nr: &str, seed: u64) -> Vec<u8> {
    let m = lookup(year, nr).expect("kommune");
    let d = generate_kommune(year, m, &GenConfig::with_scale(0.2), seed).expect("generate");
    serde_json::to_vec(&d).expect("serialise")
}

#[test]
fn same_seed_same_bytes() {
    let a = bytes(2024, "1103", 42);
    let b = bytes(2024, "1103", 42);
    assert_eq!(a, b);
    assert_ne!(a, bytes(2024, "1103", 43));
}

#[test]
fn alone_or_after_others_or_on_another_thread() {
    let alone = bytes(2017, "1151", 5);
    for nr in ["0301", "1201", "1601"] {
        bytes(2017, nr, 5);
    }
    assert_eq!(alone, bytes(2017, "1151", 5));
    let handles: Vec<_> = ["1601", "1151", "0301"]
        .into_iter()
        .map(|nr| std::thread::spawn(move || (nr, bytes(2017, nr, 5))))
        .collect();
    for h in handles {
        let (nr, b) = h.join().expect("thread");
        if nr == "1151" {
            assert_eq!(alone, b);
        }
    }
}

#[test]
fn kommune_data_round_trips_through_json() {
    let b = bytes(2024, "1151", 8);
    let d: KommuneData = serde_json::from_slice(&b).expect("read back");
    assert_eq!(serde_json::to_vec(&d).unwrap(), b);
}
