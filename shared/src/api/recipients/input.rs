//! Reading the recipients of a request: their shape first, then what each resolves to.

use super::*;
pub use crate::domain::recipients::Wanted;

const RECIPIENT_FIELDS: &[&str] = &[
    "channelId",
    "channelName",
    "email",
    "embedTenantName",
    "externalId",
    "groups",
    "securityContext",
    "userAttributes",
    "userId",
];

pub(super) fn read_attributes(
    fields: &Fields<'_>,
    problems: &mut Problems,
) -> Result<Vec<UserAttribute>, Reported> {
    let path = fields.path("userAttributes");
    let items = match fields.raw("userAttributes") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            problems.add(path, "must be an array of {name, value} strings");
            return Err(Reported);
        }
    };
    if items.len() > LIST_MAX {
        problems.add(path, format!("must have at most {LIST_MAX} entries"));
        return Err(Reported);
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let entry = item.as_object().filter(|o| o.len() == 2);
        match entry.and_then(|o| Some((o.get("name")?.as_str()?, o.get("value")?.as_str()?))) {
            Some((name, value))
                if !name.is_empty()
                    && name.len() <= ATTRIBUTE_MAX
                    && value.len() <= ATTRIBUTE_MAX =>
            {
                out.push(UserAttribute {
                    name: name.to_owned(),
                    value: value.to_owned(),
                });
            }
            _ => {
                problems.add(
                    format!("{path}[{i}]"),
                    "must be {\"name\": string, \"value\": string}",
                );
                ok = false;
            }
        }
    }
    if ok { Ok(out) } else { Err(Reported) }
}

/// An embed recipient's `groups`: at most [`LIST_MAX`], each 1–[`GROUP_MAX`] characters.
pub(super) fn read_groups(
    fields: &Fields<'_>,
    groups: Vec<(String, &str)>,
    problems: &mut Problems,
) -> Result<Vec<String>, Reported> {
    if groups.len() > LIST_MAX {
        problems.add(
            fields.path("groups"),
            format!("must have at most {LIST_MAX} entries"),
        );
        return Err(Reported);
    }
    let mut ok = true;
    for (path, group) in &groups {
        if group.is_empty() || group.chars().count() > GROUP_MAX {
            problems.add(path, format!("must be 1 to {GROUP_MAX} characters"));
            ok = false;
        }
    }
    if !ok {
        return Err(Reported);
    }
    Ok(groups.into_iter().map(|(_, g)| g.to_owned()).collect())
}

fn read_recipient(index: usize, value: &Value, problems: &mut Problems) -> Option<Wanted> {
    let at = format!("recipients[{index}]");
    let Some(map) = value.as_object() else {
        problems.add(at, "must be an object");
        return None;
    };
    let fields = Fields::new(map, &at);
    fields.deny_unknown(RECIPIENT_FIELDS, problems);
    if fields.has("channelId") || fields.has("channelName") {
        problems.add(at, "SLACK recipients are not supported yet");
        return None;
    }
    let embed = fields.has("embedTenantName") || fields.has("externalId");
    if embed {
        if fields.has("userId") {
            problems.add(
                fields.path("userId"),
                "an EMBED_USER recipient has no userId",
            );
        }
        let not_empty = |key: &str, max: usize, problems: &mut Problems| {
            fields.str(key, max, problems).filter(|t| {
                if t.is_empty() {
                    problems.add(fields.path(key), "must not be empty");
                }
                !t.is_empty()
            })
        };
        let tenant = not_empty("embedTenantName", TENANT_NAME_MAX, problems);
        let external = not_empty("externalId", EXTERNAL_ID_MAX, problems);
        let email = fields.opt_parsed("email", 254, Email::parse, problems).ok();
        let context = match fields.raw("securityContext") {
            None => Some("{}".to_owned()),
            Some(Value::Object(o)) => {
                let text = serde_json::to_string(o).unwrap_or_default();
                if text.len() > SECURITY_CONTEXT_MAX_BYTES {
                    problems.add(
                        fields.path("securityContext"),
                        "must be at most 16 KiB of JSON",
                    );
                    None
                } else {
                    Some(text)
                }
            }
            Some(_) => {
                problems.add(fields.path("securityContext"), "must be an object");
                None
            }
        };
        let attributes = read_attributes(&fields, problems).ok();
        let groups = match fields.opt_str_array("groups", problems) {
            Ok(groups) => read_groups(&fields, groups.unwrap_or_default(), problems).ok(),
            Err(Reported) => None,
        };
        let profile = EmbedProfile {
            tenant_name: tenant?.to_owned(),
            external_id: external?.to_owned(),
            email: email?,
            security_context: context?,
            user_attributes: attributes?,
            groups: groups?,
        };
        return Some(Wanted::Embed { index, profile });
    }
    // A console user is named by `userId` or `email` alone; the rest describes embed users.
    for key in ["securityContext", "userAttributes", "groups"] {
        if fields.has(key) {
            problems.add(
                fields.path(key),
                "is for EMBED_USER recipients (with embedTenantName and externalId) only",
            );
        }
    }
    let user_id = fields.opt_str("userId", 64, problems);
    let email = fields.opt_str("email", 254, problems);
    match (user_id, email) {
        (Ok(Some(_)), Ok(Some(_))) => {
            problems.add(at, "give userId or email, not both");
            None
        }
        (Ok(Some(raw)), _) => problems
            .check(
                fields.path("userId"),
                Uuid::parse_str(raw).map_err(|_| "must be a user id (a UUID string)"),
            )
            .map(|id| Wanted::UserById { index, id }),
        (_, Ok(Some(raw))) => problems
            .check(fields.path("email"), Email::parse(raw))
            .map(|email| Wanted::UserByEmail { index, email }),
        (Ok(None), Ok(None)) => {
            problems.add(
                at,
                "needs a userId, an email, or embedTenantName and externalId",
            );
            None
        }
        _ => None,
    }
}

/// The recipients API's request body.
// Read with every well-shaped recipient kept (`read`), so that one 400 names the broken ones and
// those that do not resolve.
#[derive(Debug, Default, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRecipientsRequest {
    /// 1 to 1000: `{userId}` or `{email}` for a console user, `{embedTenantName, externalId, …}`
    /// for an embed user. SLACK recipients (`channelId`, `channelName`) are refused.
    #[schema(value_type = Vec<Wanted>, min_items = 1, max_items = 1000)]
    pub recipients: Vec<Wanted>,
}

impl AddRecipientsRequest {
    /// Reads the body. A broken recipient (its problems recorded) is left out: the request is
    /// complete only while `problems` stays empty.
    pub fn read(body: &Fields<'_>, problems: &mut Problems) -> Self {
        body.deny_unknown(&["recipients"], problems);
        let items = match body.raw("recipients") {
            Some(Value::Array(items)) if (1..=MAX_RECIPIENTS).contains(&items.len()) => {
                items.as_slice()
            }
            Some(Value::Array(_)) => {
                problems.add("recipients", "must hold 1 to 1000 recipients");
                &[]
            }
            Some(_) => {
                problems.add("recipients", "must be an array");
                &[]
            }
            None => {
                problems.add("recipients", "is required");
                &[]
            }
        };
        Self {
            recipients: items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| read_recipient(i, v, problems))
                .collect(),
        }
    }
}

/// In the OpenAPI document, one recipient: exactly one of a console user by id, a console user
/// by email, or an embed user. As everywhere, `null` reads as absent: each shape allows the other
/// shapes' keys as `null`.
impl utoipa::PartialSchema for Wanted {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type,
        };
        use utoipa::openapi::{KnownFormat, RefOr, Schema, SchemaFormat};
        let or_null = |schema: RefOr<Schema>| -> RefOr<Schema> {
            OneOfBuilder::new()
                .item(schema)
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .into()
        };
        // One shape: `own` keys (the `required` ones must be there and not null), every other
        // known key only as null.
        let shape = |title: &str, own: Vec<(&str, RefOr<Schema>, bool)>| {
            let mut object = ObjectBuilder::new()
                .schema_type(Type::Object)
                .title(Some(title))
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            for key in RECIPIENT_FIELDS {
                object = match own.iter().find(|(k, ..)| k == key) {
                    Some((_, schema, true)) => object.property(*key, schema.clone()).required(*key),
                    Some((_, schema, false)) => object.property(*key, or_null(schema.clone())),
                    None => object.property(*key, ObjectBuilder::new().schema_type(Type::Null)),
                };
            }
            object
        };
        let text = |min: usize, max: usize| -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(min))
                .max_length(Some(max))
                .into()
        };
        let uuid: RefOr<Schema> = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .into();
        let attribute = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .property("name", text(1, ATTRIBUTE_MAX))
            .property("value", text(0, ATTRIBUTE_MAX))
            .required("name")
            .required("value");
        let by_id = shape("USER by id", vec![("userId", uuid, true)]);
        let by_email = shape("USER by email", vec![("email", Email::schema(), true)]);
        let embed = shape(
            "EMBED_USER",
            vec![
                ("embedTenantName", text(1, TENANT_NAME_MAX), true),
                ("externalId", text(1, EXTERNAL_ID_MAX), true),
                ("email", Email::schema(), false),
                (
                    "securityContext",
                    ObjectBuilder::new().schema_type(Type::Object).into(),
                    false,
                ),
                (
                    "userAttributes",
                    ArrayBuilder::new()
                        .items(attribute)
                        .max_items(Some(LIST_MAX))
                        .into(),
                    false,
                ),
                (
                    "groups",
                    ArrayBuilder::new()
                        .items(text(1, GROUP_MAX))
                        .max_items(Some(LIST_MAX))
                        .into(),
                    false,
                ),
            ],
        )
        .description(Some(
            "`email` defaults to `externalId`, which must then be an email address; the phone of an sms recipient is its `userAttributes` entry named `phone` (E.164); `securityContext` is at most 16 KiB of JSON.",
        ));
        OneOfBuilder::new()
            .item(by_id)
            .item(by_email)
            .item(embed)
            .into()
    }
}

impl ToSchema for Wanted {
    fn name() -> std::borrow::Cow<'static, str> {
        "Recipient".into()
    }
}
