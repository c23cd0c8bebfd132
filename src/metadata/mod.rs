//! Instance metadata: the common model and one module per provider.
pub mod model;
pub use model::*;
