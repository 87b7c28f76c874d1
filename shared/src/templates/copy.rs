//! The templates' copy: every title, body and action label, in every language (`{F}` stands for
//! the product name of the device-management families). The code that uses it is in `mod.rs`.

use serde_json::{Value, json};

use super::TemplateKey;
use crate::model::EventType;

/// `(title, body, action label)` per language, in [`Language::ALL`]'s order.
pub(super) type Texts = [(&'static str, &'static str, &'static str); 4];

const BUILD_LABELS: [&str; 4] = [
    "View build",
    "Build ansehen",
    "Voir le build",
    "Ver compilación",
];
const RENEW_LABELS: [&str; 4] = [
    "Renew certificate",
    "Zertifikat erneuern",
    "Renouveler le certificat",
    "Renovar certificado",
];

fn with_labels(texts: [(&'static str, &'static str); 4], labels: [&'static str; 4]) -> Texts {
    let mut out = [("", "", ""); 4];
    for (i, ((title, body), label)) in texts.into_iter().zip(labels).enumerate() {
        out[i] = (title, body, label);
    }
    out
}

pub(super) fn event_texts(event: EventType) -> Texts {
    use EventType as E;
    match event {
        E::BuildCreated => with_labels(
            [
                (
                    "New build of {{ appName }}",
                    "{{ createdBy }} uploaded {{ appName }} {{ version }} (build {{ buildNumber }}) for {{ platform }}.",
                ),
                (
                    "Neuer Build von {{ appName }}",
                    "{{ createdBy }} hat {{ appName }} {{ version }} (Build {{ buildNumber }}) für {{ platform }} hochgeladen.",
                ),
                (
                    "Nouveau build de {{ appName }}",
                    "{{ createdBy }} a téléversé {{ appName }} {{ version }} (build {{ buildNumber }}) pour {{ platform }}.",
                ),
                (
                    "Nueva compilación de {{ appName }}",
                    "{{ createdBy }} subió {{ appName }} {{ version }} (compilación {{ buildNumber }}) para {{ platform }}.",
                ),
            ],
            BUILD_LABELS,
        ),
        E::BuildProcessed => with_labels(
            [
                (
                    "{{ appName }} {{ version }} is ready",
                    "Build {{ buildNumber }} of {{ appName }} for {{ platform }} was processed and can be installed.",
                ),
                (
                    "{{ appName }} {{ version }} ist bereit",
                    "Build {{ buildNumber }} von {{ appName }} für {{ platform }} wurde verarbeitet und kann installiert werden.",
                ),
                (
                    "{{ appName }} {{ version }} est prêt",
                    "Le build {{ buildNumber }} de {{ appName }} pour {{ platform }} a été traité et peut être installé.",
                ),
                (
                    "{{ appName }} {{ version }} está lista",
                    "La compilación {{ buildNumber }} de {{ appName }} para {{ platform }} se procesó y se puede instalar.",
                ),
            ],
            BUILD_LABELS,
        ),
        E::FeedbackCreated => [
            (
                "New feedback on {{ appName }}",
                "{{ author }} wrote: {{ message }}",
                "View feedback",
            ),
            (
                "Neues Feedback zu {{ appName }}",
                "{{ author }} schrieb: {{ message }}",
                "Feedback ansehen",
            ),
            (
                "Nouveau retour sur {{ appName }}",
                "{{ author }} a écrit : {{ message }}",
                "Voir le retour",
            ),
            (
                "Nuevos comentarios sobre {{ appName }}",
                "{{ author }} escribió: {{ message }}",
                "Ver comentarios",
            ),
        ],
        E::CertificateWillExpire => with_labels(
            [
                (
                    "Certificate {{ certificateName }} expires soon",
                    "The certificate {{ certificateName }} expires on {{ expiresAt }}. Renew it before then.",
                ),
                (
                    "Zertifikat {{ certificateName }} läuft bald ab",
                    "Das Zertifikat {{ certificateName }} läuft am {{ expiresAt }} ab. Erneuern Sie es vorher.",
                ),
                (
                    "Le certificat {{ certificateName }} expire bientôt",
                    "Le certificat {{ certificateName }} expire le {{ expiresAt }}. Renouvelez-le avant cette date.",
                ),
                (
                    "El certificado {{ certificateName }} caduca pronto",
                    "El certificado {{ certificateName }} caduca el {{ expiresAt }}. Renuévelo antes.",
                ),
            ],
            RENEW_LABELS,
        ),
        E::ApplePushRenovation => with_labels(
            [
                (
                    "Renew the Apple push certificate",
                    "The Apple push certificate {{ certificateName }} expires on {{ expiresAt }}. Renew it to keep managing your devices.",
                ),
                (
                    "Apple-Push-Zertifikat erneuern",
                    "Das Apple-Push-Zertifikat {{ certificateName }} läuft am {{ expiresAt }} ab. Erneuern Sie es, um Ihre Geräte weiter zu verwalten.",
                ),
                (
                    "Renouvelez le certificat push Apple",
                    "Le certificat push Apple {{ certificateName }} expire le {{ expiresAt }}. Renouvelez-le pour continuer à gérer vos appareils.",
                ),
                (
                    "Renueve el certificado push de Apple",
                    "El certificado push de Apple {{ certificateName }} caduca el {{ expiresAt }}. Renuévelo para seguir gestionando sus dispositivos.",
                ),
            ],
            RENEW_LABELS,
        ),
        E::EmmEnrollmentCreated | E::AdmEnrollmentCreated | E::WinEnrollmentCreated => [
            (
                "New {F} enrollment",
                "{{ userName }} created the {F} enrollment {{ enrollmentName }}.",
                "Open enrollment",
            ),
            (
                "Neue {F}-Registrierung",
                "{{ userName }} hat die {F}-Registrierung {{ enrollmentName }} erstellt.",
                "Registrierung öffnen",
            ),
            (
                "Nouvelle inscription {F}",
                "{{ userName }} a créé l'inscription {F} {{ enrollmentName }}.",
                "Ouvrir l'inscription",
            ),
            (
                "Nueva inscripción {F}",
                "{{ userName }} creó la inscripción {F} {{ enrollmentName }}.",
                "Abrir inscripción",
            ),
        ],
        E::EmmDeviceCreated | E::AdmDeviceCreated | E::WinDeviceCreated => [
            (
                "New {F} device",
                "{{ deviceName }} ({{ deviceModel }}) was added to {F} for {{ userName }}.",
                "Open device",
            ),
            (
                "Neues {F}-Gerät",
                "{{ deviceName }} ({{ deviceModel }}) wurde in {F} für {{ userName }} hinzugefügt.",
                "Gerät öffnen",
            ),
            (
                "Nouvel appareil {F}",
                "{{ deviceName }} ({{ deviceModel }}) a été ajouté à {F} pour {{ userName }}.",
                "Ouvrir l'appareil",
            ),
            (
                "Nuevo dispositivo {F}",
                "{{ deviceName }} ({{ deviceModel }}) se añadió a {F} para {{ userName }}.",
                "Abrir dispositivo",
            ),
        ],
        E::EmmDeviceChangedMdmUser | E::AdmDeviceChangedMdmUser | E::WinDeviceChangedMdmUser => [
            (
                "{F} device reassigned",
                "{{ deviceName }} now belongs to {{ userName }} (before: {{ previousUserName }}).",
                "Open device",
            ),
            (
                "{F}-Gerät neu zugewiesen",
                "{{ deviceName }} gehört jetzt {{ userName }} (vorher: {{ previousUserName }}).",
                "Gerät öffnen",
            ),
            (
                "Appareil {F} réattribué",
                "{{ deviceName }} appartient maintenant à {{ userName }} (avant : {{ previousUserName }}).",
                "Ouvrir l'appareil",
            ),
            (
                "Dispositivo {F} reasignado",
                "{{ deviceName }} ahora pertenece a {{ userName }} (antes: {{ previousUserName }}).",
                "Abrir dispositivo",
            ),
        ],
        E::InventoryItemRegistered => [
            (
                "New inventory item",
                "{{ itemName }} (serial {{ serialNumber }}) was registered by {{ userName }}.",
                "View item",
            ),
            (
                "Neuer Inventarartikel",
                "{{ itemName }} (Seriennummer {{ serialNumber }}) wurde von {{ userName }} registriert.",
                "Artikel ansehen",
            ),
            (
                "Nouvel article d'inventaire",
                "{{ itemName }} (numéro de série {{ serialNumber }}) a été enregistré par {{ userName }}.",
                "Voir l'article",
            ),
            (
                "Nuevo artículo de inventario",
                "{{ itemName }} (número de serie {{ serialNumber }}) fue registrado por {{ userName }}.",
                "Ver artículo",
            ),
        ],
    }
}

pub(super) const TEST_TEXTS: Texts = [
    (
        "Test Notification",
        "Hi {{ userName }}, this is a test notification from Herald. If you can read it, delivery works.",
        "",
    ),
    (
        "Testbenachrichtigung",
        "Hallo {{ userName }}, dies ist eine Testbenachrichtigung von Herald. Wenn Sie sie lesen können, funktioniert die Zustellung.",
        "",
    ),
    (
        "Notification de test",
        "Bonjour {{ userName }}, ceci est une notification de test de Herald. Si vous pouvez la lire, la distribution fonctionne.",
        "",
    ),
    (
        "Notificación de prueba",
        "Hola {{ userName }}, esta es una notificación de prueba de Herald. Si puede leerla, la entrega funciona.",
        "",
    ),
];

/// Realistic data for a template's event, with exactly the fields it renders.
pub(super) fn sample_data(key: TemplateKey) -> Value {
    use EventType as E;
    // The device-management families: an enrollment, a new device, a device changing hands.
    let family = |name: &str, event: EventType| {
        let url = format!(
            "https://console.example.com/{}/devices/042",
            name.to_lowercase()
        );
        let device = format!("{name}-LAPTOP-042");
        match event {
            E::EmmEnrollmentCreated | E::AdmEnrollmentCreated | E::WinEnrollmentCreated => {
                json!({
                    "userName": "Ada Lovelace",
                    "enrollmentName": format!("{name} corporate devices"),
                    "url": url,
                })
            }
            E::EmmDeviceCreated | E::AdmDeviceCreated | E::WinDeviceCreated => json!({
                "userName": "Ada Lovelace",
                "deviceName": device,
                "deviceModel": "MacBook Pro 14",
                "url": url,
            }),
            _ => json!({
                "userName": "Ada Lovelace",
                "previousUserName": "Charles Babbage",
                "deviceName": device,
                "url": url,
            }),
        }
    };
    match key {
        TemplateKey::Test => json!({"userName": "Ada Lovelace"}),
        TemplateKey::Event(event) => match event {
            EventType::BuildCreated => json!({
                "appName": "Field Service",
                "version": "4.2.0",
                "buildNumber": "1187",
                "platform": "iOS",
                "createdBy": "Grace Hopper",
                "url": "https://console.example.com/apps/field-service/builds/1187",
            }),
            EventType::BuildProcessed => json!({
                "appName": "Field Service",
                "version": "4.2.0",
                "buildNumber": "1187",
                "platform": "iOS",
                "url": "https://console.example.com/apps/field-service/builds/1187",
            }),
            EventType::FeedbackCreated => json!({
                "appName": "Field Service",
                "author": "Katherine Johnson",
                "message": "The sync button does nothing when I'm offline.",
                "url": "https://console.example.com/apps/field-service/feedback/93",
            }),
            EventType::CertificateWillExpire | EventType::ApplePushRenovation => json!({
                "certificateName": "Distribution 2026",
                "expiresAt": "2026-12-31",
                "url": "https://console.example.com/certificates/17",
            }),
            EventType::EmmEnrollmentCreated
            | EventType::EmmDeviceCreated
            | EventType::EmmDeviceChangedMdmUser => family("EMM", event),
            EventType::AdmEnrollmentCreated
            | EventType::AdmDeviceCreated
            | EventType::AdmDeviceChangedMdmUser => family("ADM", event),
            EventType::WinEnrollmentCreated
            | EventType::WinDeviceCreated
            | EventType::WinDeviceChangedMdmUser => family("WIN", event),
            EventType::InventoryItemRegistered => json!({
                "itemName": "Zebra TC52 scanner",
                "serialNumber": "21245522500142",
                "userName": "Ada Lovelace",
                "url": "https://console.example.com/inventory/5521",
            }),
        },
    }
}
