//! Mail: the reminder templates as files (bundled in `assets/templates/`,
//! overridable from the config directory). The rules of a template (format,
//! placeholders, rendering, checks) are in [`crate::domain::template`].

pub mod templates;

pub use templates::{TemplateSource, TemplatesError, load_template};
