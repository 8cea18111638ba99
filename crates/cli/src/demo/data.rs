//! The synthetic data `mamori demo` writes (to be generated).
