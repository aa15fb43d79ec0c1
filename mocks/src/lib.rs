//! iplos-mocks: see DESIGN.md. (Built in a later issue.)
