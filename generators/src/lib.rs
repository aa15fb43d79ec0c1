//! iplos-generators: see DESIGN.md. (Built in a later issue.)
