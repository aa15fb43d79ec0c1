//! iplos-reports: see DESIGN.md. (Built in a later issue.)
