//! Writes the synthetic sample report (430 kommuner) into a directory, to look at the page:
//! `cargo run -p iplos-reports --example sample_report -- /tmp/sample-report`
fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sample-report".into());
    let r = iplos_reports::sample::sample(430, 42);
    match iplos_reports::write_report(&r, std::path::Path::new(&dir)) {
        Ok(w) => print!("{}", iplos_reports::console_summary(&r, Some(&w))),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
