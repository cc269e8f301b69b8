pub mod resources;
pub mod validation;
