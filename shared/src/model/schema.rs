//! The OpenAPI schemas of the model's checked strings: each states exactly what its `parse`
//! accepts (schemathesis holds them to it in the test suite).

use super::{Email, Phone, Username};

/// A string schema for the OpenAPI document.
fn string_schema(
    pattern: Option<&str>,
    max_length: usize,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(pattern)
        .max_length(Some(max_length))
        .description(Some(description))
        .into()
}

/// In the OpenAPI document: what [`Username::parse`] accepts.
impl utoipa::PartialSchema for Username {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            Some(
                "^(?![mM][eE]$)(?![0-9a-fA-F]{32}$)(?![0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
            ),
            64,
            "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; not `me` and not a UUID. Unique in the organization, ignoring case.",
        )
    }
}

impl utoipa::ToSchema for Username {}

/// In the OpenAPI document: what [`Email::parse`] accepts.
impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            Some(concat!(
                r#"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@"#,
                r#"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"#,
                r#"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"#
            )),
            254,
            "An email address (stored lowercased); unique in the organization.",
        )
    }
}

impl utoipa::ToSchema for Email {}

/// In the OpenAPI document: what [`Phone::parse`] accepts.
impl utoipa::PartialSchema for Phone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            Some(r"^\+[1-9][0-9]{1,14}$"),
            16,
            "E.164, such as +14155550100.",
        )
    }
}

impl utoipa::ToSchema for Phone {}
