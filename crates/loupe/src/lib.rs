//! Loupe recording library (being built).
