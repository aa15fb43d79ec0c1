//! Placeholder until the registry lands.
/// Placeholder.
pub fn lookup(_year: u16, _number: &str) -> Result<(), std::convert::Infallible> {
    Ok(())
}
