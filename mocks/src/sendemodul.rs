//! Sendemodul (placeholder).
