//! The 16 system notification templates (listed by the admin API): one per event type plus "Test
//! Notification", each written in every [`Language`], rendered with minijinja (Jinja syntax).
//!
//! The templates are static data compiled into the binary: listing them reads no store, and their
//! ids are UUIDv5s of their names, the same on every deployment. They are parsed once per process
//! (the first render) into one [`minijinja::Environment`]. A field missing from an event's data
//! renders empty (minijinja's chainable undefined: `{{ a.b }}` with no `a` is empty too), so a
//! render never fails a delivery.
//!
//! [`Rendered`] gives each transport the form it needs: plain text for SMS, Block Kit with a text
//! fallback for Slack, subject + text + HTML for email, title and body for webhooks.

use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::model::{EventType, Language};
use copy::{TEST_TEXTS, Texts, event_texts};

mod copy;

/// Which system template: one per event type, plus the test notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TemplateKey {
    Event(EventType),
    Test,
}

/// The namespace of the template ids: UUIDv5 of the URL `urn:herald:system-templates`.
fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:herald:system-templates")
}

/// One template's text in one language. `label` names its action (the button or link to `url`).
#[derive(Debug)]
struct Localized {
    title: String,
    body: String,
    label: &'static str,
}

/// A system template, as the admin API's `GET /notifications/templates/system` lists it.
#[derive(Debug)]
pub struct SystemTemplate {
    pub key: TemplateKey,
    pub id: Uuid,
    /// The event type in words: `certificateWillExpire` → "Certificate Will Expire".
    pub name: String,
    /// The family: Build, Feedback, Certificates, Push, EMM, ADM, Windows, Inventory, Test.
    pub group: &'static str,
    /// False only for `inventoryItemRegistered` (noisy: users opt in).
    pub enabled_by_default: bool,
    /// Indexed like [`Language::ALL`].
    texts: Vec<Localized>,
    /// The action's URL template; `None` for a template without action.
    action_url: Option<&'static str>,
}

/// One action of a rendered notification (a button in Slack, a link elsewhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Action {
    pub label: String,
    pub url: String,
}

/// A template rendered for one event, in one language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub title: String,
    pub body: String,
    /// Actions whose URL rendered empty are left out.
    pub actions: Vec<Action>,
}

/// An email's parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Every system template, in the API's order (the event types, then the test notification).
pub fn all() -> &'static [SystemTemplate] {
    &TEMPLATES
}

/// The template of `key`.
pub fn get(key: TemplateKey) -> &'static SystemTemplate {
    let index = match key {
        TemplateKey::Event(event) => event as usize,
        TemplateKey::Test => EventType::ALL.len(),
    };
    &TEMPLATES[index]
}

/// The template with this id, if any.
pub fn by_id(id: Uuid) -> Option<&'static SystemTemplate> {
    TEMPLATES.iter().find(|t| t.id == id)
}

impl SystemTemplate {
    fn text(&self, language: Language) -> &Localized {
        &self.texts[language as usize]
    }

    /// The title's source in `language`.
    pub fn title_template(&self, language: Language) -> &str {
        &self.text(language).title
    }

    /// The body's source in `language`.
    pub fn body_template(&self, language: Language) -> &str {
        &self.text(language).body
    }

    /// The admin API's `actions`: a JSON string of `[{label, url}]` (the URL as its template).
    pub fn actions_json(&self, language: Language) -> String {
        let actions: Vec<Action> = self
            .action_url
            .map(|url| Action {
                label: self.text(language).label.to_owned(),
                url: url.to_owned(),
            })
            .into_iter()
            .collect();
        serde_json::to_string(&actions).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Renders the template in `language` with the event's `data`. Never fails: a missing field
    /// renders empty, and a template error (none is known: every template is rendered in every
    /// language by the tests) renders the part empty and is logged.
    pub fn render(&self, language: Language, data: &Value) -> Rendered {
        let context = minijinja::Value::from_serialize(data);
        let part = |part: &str| {
            let name = template_name(self.key, language, part);
            let out = ENVIRONMENT
                .get_template(&name)
                .and_then(|t| t.render(&context));
            out.unwrap_or_else(|error| {
                tracing::warn!(template = %name, %error, "template failed to render");
                String::new()
            })
        };
        let title = part("title");
        let body = part("body");
        let actions = match self.action_url {
            Some(_) => {
                let url = part("url");
                let label = self.text(language).label.to_owned();
                (!url.trim().is_empty())
                    .then_some(Action { label, url })
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        };
        Rendered {
            title,
            body,
            actions,
        }
    }

    /// The fields of an event's `data` this template renders, in any language and any part
    /// (title, body, action URL), read from its sources; sorted. A field missing from an event
    /// renders empty. Parses the sources again: the event-type catalog calls it once per process.
    pub fn fields(&self) -> Vec<String> {
        let mut fields = std::collections::BTreeSet::new();
        for &language in Language::ALL {
            for part in ["title", "body", "url"] {
                if let Ok(t) = ENVIRONMENT.get_template(&template_name(self.key, language, part)) {
                    fields.extend(t.undeclared_variables(false));
                }
            }
        }
        fields.into_iter().collect()
    }

    /// Realistic data for this template's event, with exactly the fields it renders
    /// ([`SystemTemplate::fields`]): what the tests and the benchmark render, what the test
    /// notification carries, and the event-type catalog's example.
    pub fn sample_data(&self) -> Value {
        copy::sample_data(self.key)
    }
}

impl Rendered {
    /// Plain text for SMS: the title, then the body, then the first action's URL; at most 1,600
    /// characters (SNS's limit for one SMS message).
    pub fn sms(&self) -> String {
        let mut text = format!("{}\n{}", self.title, self.body);
        if let Some(action) = self.actions.first() {
            text.push('\n');
            text.push_str(&action.url);
        }
        match text.char_indices().nth(1600) {
            Some((cut, _)) => text[..cut].to_owned(),
            None => text,
        }
    }

    /// A Slack message: Block Kit (a header, the body as mrkdwn, a button per action) with the
    /// plain-text fallback in `text`.
    pub fn slack(&self) -> Value {
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&self.title, 150)}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(&self.body)}}),
        ];
        if !self.actions.is_empty() {
            let buttons: Vec<Value> = self
                .actions
                .iter()
                .map(|a| json!({"type": "button", "text": {"type": "plain_text", "text": a.label}, "url": a.url}))
                .collect();
            blocks.push(json!({"type": "actions", "elements": buttons}));
        }
        json!({"text": format!("{}\n{}", self.title, self.body), "blocks": blocks})
    }

    /// An email: the title as subject, a text part and an HTML part (everything escaped).
    pub fn email(&self) -> EmailContent {
        let mut text = self.body.clone();
        let mut html = format!(
            "<h2>{}</h2>\n<p>{}</p>",
            html_escape(&self.title),
            html_escape(&self.body)
        );
        for action in &self.actions {
            text.push_str(&format!("\n\n{}: {}", action.label, action.url));
            html.push_str(&format!(
                "\n<p><a href=\"{}\">{}</a></p>",
                html_escape(&action.url),
                html_escape(&action.label)
            ));
        }
        EmailContent {
            subject: self.title.clone(),
            text,
            html,
        }
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// Slack's mrkdwn control characters.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html_escape(text: &str) -> String {
    slack_escape(text)
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn template_name(key: TemplateKey, language: Language, part: &str) -> String {
    let key = match key {
        TemplateKey::Event(event) => event.as_str(),
        TemplateKey::Test => "test",
    };
    format!("{key}/{language}/{part}")
}

/// The event type in words: `certificateWillExpire` → "Certificate Will Expire".
fn words(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if i == 0 {
            out.extend(c.to_uppercase());
        } else {
            if c.is_uppercase() {
                out.push(' ');
            }
            out.push(c);
        }
    }
    out
}

/// The family of an event type, and the product name its device templates use.
fn group(event: EventType) -> (&'static str, &'static str) {
    use EventType as E;
    match event {
        E::BuildCreated | E::BuildProcessed => ("Build", ""),
        E::FeedbackCreated => ("Feedback", ""),
        E::CertificateWillExpire => ("Certificates", ""),
        E::ApplePushRenovation => ("Push", ""),
        E::EmmEnrollmentCreated | E::EmmDeviceCreated | E::EmmDeviceChangedMdmUser => {
            ("EMM", "EMM")
        }
        E::AdmEnrollmentCreated | E::AdmDeviceCreated | E::AdmDeviceChangedMdmUser => {
            ("ADM", "ADM")
        }
        E::WinEnrollmentCreated | E::WinDeviceCreated | E::WinDeviceChangedMdmUser => {
            ("Windows", "Windows")
        }
        E::InventoryItemRegistered => ("Inventory", ""),
    }
}

fn localize(texts: Texts, product: &str) -> Vec<Localized> {
    texts
        .into_iter()
        .map(|(title, body, label)| Localized {
            title: title.replace("{F}", product),
            body: body.replace("{F}", product),
            label,
        })
        .collect()
}

static TEMPLATES: LazyLock<Vec<SystemTemplate>> = LazyLock::new(|| {
    let namespace = namespace();
    let mut templates: Vec<SystemTemplate> = EventType::ALL
        .iter()
        .map(|&event| {
            let name = words(event.as_str());
            let (group, product) = group(event);
            SystemTemplate {
                key: TemplateKey::Event(event),
                id: Uuid::new_v5(&namespace, name.as_bytes()),
                name,
                group,
                enabled_by_default: event != EventType::InventoryItemRegistered,
                texts: localize(event_texts(event), product),
                action_url: Some("{{ url }}"),
            }
        })
        .collect();
    let name = "Test Notification".to_owned();
    templates.push(SystemTemplate {
        key: TemplateKey::Test,
        id: Uuid::new_v5(&namespace, name.as_bytes()),
        name,
        group: "Test",
        enabled_by_default: true,
        texts: localize(TEST_TEXTS, ""),
        action_url: None,
    });
    templates
});

/// Every template part, parsed once per process.
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    for template in TEMPLATES.iter() {
        for &language in Language::ALL {
            let text = template.text(language);
            let mut parts = vec![("title", text.title.as_str()), ("body", text.body.as_str())];
            if let Some(url) = template.action_url {
                parts.push(("url", url));
            }
            for (part, source) in parts {
                let name = template_name(template.key, language, part);
                if let Err(error) = env.add_template_owned(name.clone(), source.to_owned()) {
                    // Unreachable for the templates above: a test parses every one.
                    tracing::error!(template = %name, %error, "template does not parse");
                }
            }
        }
    }
    env
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_templates_one_per_event_type_plus_test_with_unique_ids() {
        assert_eq!(all().len(), 16);
        let mut ids: Vec<Uuid> = all().iter().map(|t| t.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 16);
        assert_eq!(get(TemplateKey::Test).name, "Test Notification");
        let cert = get(TemplateKey::Event(EventType::CertificateWillExpire));
        assert_eq!(cert.name, "Certificate Will Expire");
        assert_eq!(cert.group, "Certificates");
        assert_eq!(by_id(cert.id).map(|t| t.key), Some(cert.key));
    }

    #[test]
    fn ids_are_uuidv5_of_the_name_and_stable() {
        let test = get(TemplateKey::Test);
        assert_eq!(test.id.get_version_num(), 5);
        assert_eq!(test.id, Uuid::new_v5(&namespace(), b"Test Notification"));
        // Pinned: a deployment's preferences refer to these ids, so they must never change.
        assert_eq!(test.id.to_string(), "c537a9bc-eaa2-52ae-81e0-a8ef0381d815");
    }

    #[test]
    fn only_inventory_item_registered_is_disabled_by_default() {
        let off: Vec<&str> = all()
            .iter()
            .filter(|t| !t.enabled_by_default)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(off, ["Inventory Item Registered"]);
    }

    #[test]
    fn every_template_renders_in_every_language_with_realistic_data() {
        for template in all() {
            let data = template.sample_data();
            for &language in Language::ALL {
                let out = template.render(language, &data);
                for part in [&out.title, &out.body] {
                    assert!(!part.is_empty(), "{} {language}", template.name);
                    assert!(!part.contains("{{"), "{} {language}: {part}", template.name);
                    assert!(
                        !part.contains("{F}"),
                        "{} {language}: {part}",
                        template.name
                    );
                }
                let expected_actions = usize::from(template.action_url.is_some());
                assert_eq!(out.actions.len(), expected_actions, "{}", template.name);
                for action in &out.actions {
                    assert!(action.url.starts_with("https://console.example.com/"));
                    assert!(!action.label.is_empty());
                }
            }
        }
    }

    #[test]
    fn every_template_renders_with_empty_data_without_failing() {
        for template in all() {
            for &language in Language::ALL {
                let out = template.render(language, &json!({}));
                assert!(!out.body.contains("{{"), "{}", template.name);
                assert!(out.actions.is_empty(), "an empty url drops its action");
                let null = template.render(language, &Value::Null);
                assert_eq!(null, out, "{} {language}", template.name);
            }
        }
    }

    #[test]
    fn renders_the_exact_text_in_the_chosen_language() {
        let cert = get(TemplateKey::Event(EventType::CertificateWillExpire));
        let data = cert.sample_data();
        let en = cert.render(Language::En, &data);
        assert_eq!(en.title, "Certificate Distribution 2026 expires soon");
        assert_eq!(
            en.body,
            "The certificate Distribution 2026 expires on 2026-12-31. Renew it before then."
        );
        assert_eq!(
            en.actions,
            [Action {
                label: "Renew certificate".into(),
                url: "https://console.example.com/certificates/17".into()
            }]
        );
        let de = cert.render(Language::De, &data);
        assert_eq!(de.title, "Zertifikat Distribution 2026 läuft bald ab");
        let device = get(TemplateKey::Event(EventType::WinDeviceCreated));
        let fr = device.render(Language::Fr, &device.sample_data());
        assert_eq!(fr.title, "Nouvel appareil Windows");
        assert_eq!(
            fr.body,
            "WIN-LAPTOP-042 (MacBook Pro 14) a été ajouté à Windows pour Ada Lovelace."
        );
    }

    #[test]
    fn a_missing_field_renders_empty() {
        let cert = get(TemplateKey::Event(EventType::CertificateWillExpire));
        let out = cert.render(Language::Es, &json!({"certificateName": {"nested": 1}}));
        assert_eq!(out.title, "El certificado {\"nested\": 1} caduca pronto");
        let out = cert.render(Language::Es, &json!({"expiresAt": "2027-01-01"}));
        assert_eq!(out.title, "El certificado  caduca pronto");
        assert_eq!(
            out.body,
            "El certificado  caduca el 2027-01-01. Renuévelo antes."
        );
    }

    #[test]
    fn actions_json_is_a_json_string_of_label_and_url() {
        let build = get(TemplateKey::Event(EventType::BuildCreated));
        assert_eq!(
            build.actions_json(Language::En),
            r#"[{"label":"View build","url":"{{ url }}"}]"#
        );
        assert_eq!(get(TemplateKey::Test).actions_json(Language::En), "[]");
    }

    #[test]
    fn transport_forms_escape_and_shape_the_text() {
        let rendered = Rendered {
            title: "Build <1> & \"2\"".into(),
            body: "a <b> & c".into(),
            actions: vec![Action {
                label: "Open".into(),
                url: "https://x.example/?a=1&b=2".into(),
            }],
        };
        assert_eq!(
            rendered.sms(),
            "Build <1> & \"2\"\na <b> & c\nhttps://x.example/?a=1&b=2"
        );
        let email = rendered.email();
        assert_eq!(email.subject, "Build <1> & \"2\"");
        assert_eq!(email.text, "a <b> & c\n\nOpen: https://x.example/?a=1&b=2");
        assert_eq!(
            email.html,
            "<h2>Build &lt;1&gt; &amp; &quot;2&quot;</h2>\n<p>a &lt;b&gt; &amp; c</p>\n<p><a href=\"https://x.example/?a=1&amp;b=2\">Open</a></p>"
        );
        let slack = rendered.slack();
        assert_eq!(slack["text"], "Build <1> & \"2\"\na <b> & c");
        assert_eq!(slack["blocks"][1]["text"]["text"], "a &lt;b&gt; &amp; c");
        assert_eq!(
            slack["blocks"][2]["elements"][0]["url"],
            "https://x.example/?a=1&b=2"
        );
        let long = Rendered {
            title: "t".into(),
            body: "é".repeat(2000),
            actions: vec![],
        };
        assert_eq!(long.sms().chars().count(), 1600);
    }
}
