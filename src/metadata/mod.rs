//! Instance metadata: the common model, parse errors and one module per provider.
pub mod aws;
pub mod error;
pub mod model;
pub use error::ParseError;
pub use model::*;
