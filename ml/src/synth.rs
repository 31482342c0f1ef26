//! Reproducible synthetic tickets.
//!
//! The project must not ship third-party data, yet `make demo` and the load benchmarks need
//! realistic input. These tickets are built from small per-language, per-type phrase tables, with
//! the same quirks as real exports (placeholders, `<br>` breaks, escaped newlines, empty
//! subjects), so every stage sees the kinds of text it meets in production. The same seed always
//! gives the same file.

use std::io::Write;

use ticketflow_schemas::Ticket;

/// Ticket types, in the order the phrase tables use.
pub const TYPES: [&str; 4] = ["Incident", "Request", "Problem", "Change"];
const QUEUES: [&str; 5] = [
    "Technical Support",
    "IT Support",
    "Billing and Payments",
    "Product Support",
    "Customer Service",
];
const PRIORITIES: [&str; 3] = ["low", "medium", "high"];
/// Rough type mix of real exports: many incidents and requests, fewer changes.
const TYPE_WEIGHTS: [u32; 4] = [38, 32, 21, 9];

struct Phrases {
    lang: &'static str,
    products: &'static [&'static str],
    /// Per type: subject templates and body templates; `{p}` is a product.
    subjects: [&'static [&'static str]; 4],
    bodies: [&'static [&'static str]; 4],
    closings: &'static [&'static str],
}

const EN: Phrases = Phrases {
    lang: "en",
    products: &[
        "the VPN client",
        "our CRM",
        "the billing portal",
        "the mail server",
        "the mobile app",
        "the data warehouse",
    ],
    subjects: [
        &[
            "{p} is down",
            "Outage: {p} not responding",
            "Urgent: cannot log in to {p}",
        ],
        &[
            "Access request for {p}",
            "Please add a licence for {p}",
            "Question about {p} pricing",
        ],
        &[
            "Recurring errors in {p}",
            "{p} keeps crashing",
            "Slow performance of {p} since the update",
        ],
        &[
            "Planned upgrade of {p}",
            "Change request: migrate {p}",
            "Please reconfigure {p}",
        ],
    ],
    bodies: [
        &[
            "Dear support, since this morning {p} does not respond and our team cannot work. Error 503 appears on every attempt.",
            "Hello, {p} stopped working after a restart. Customers are affected, please help quickly.<br>Account <acc_num>.",
        ],
        &[
            "Hi, could you grant <name> access to {p}? We need it for the new project starting next week.",
            "Hello, we would like to order two additional seats for {p}. Please send an offer to <email>.",
        ],
        &[
            "We keep seeing the same timeout in {p} several times a day.\\nThe issue persists after clearing the cache. Can you find the root cause?",
            "Since the last update {p} crashes whenever we export reports. This has happened for two weeks now.",
        ],
        &[
            "We plan to upgrade {p} to the new version on Saturday. Please confirm the maintenance window.",
            "Please change the configuration of {p} so that it uses the new certificate. Ticket owner: <name>.",
        ],
    ],
    closings: &[
        "Best regards, <name>",
        "Thanks, <name> (<tel_num>)",
        "Kind regards",
    ],
};

const DE: Phrases = Phrases {
    lang: "de",
    products: &[
        "der VPN-Client",
        "unser CRM",
        "das Abrechnungsportal",
        "der Mailserver",
        "die mobile App",
        "das Data Warehouse",
    ],
    subjects: [
        &[
            "Ausfall: {p} reagiert nicht",
            "Dringend: Anmeldung bei {p} nicht möglich",
            "{p} ist ausgefallen",
        ],
        &[
            "Zugriffsanfrage für {p}",
            "Bitte Lizenz für {p} hinzufügen",
            "Frage zu den Kosten von {p}",
        ],
        &[
            "Wiederkehrende Fehler in {p}",
            "{p} stürzt ständig ab",
            "{p} ist seit dem Update langsam",
        ],
        &[
            "Geplantes Upgrade von {p}",
            "Änderungsantrag: Migration von {p}",
            "Bitte {p} neu konfigurieren",
        ],
    ],
    bodies: [
        &[
            "Sehr geehrtes Support-Team, seit heute Morgen reagiert {p} nicht mehr und wir können nicht arbeiten.",
            "Hallo, nach einem Neustart funktioniert {p} nicht mehr. Kunden sind betroffen.<br>Konto <acc_num>.",
        ],
        &[
            "Hallo, könnten Sie <name> Zugriff auf {p} gewähren? Wir benötigen ihn für das neue Projekt.",
            "Wir möchten zwei zusätzliche Lizenzen für {p} bestellen. Bitte senden Sie ein Angebot.",
        ],
        &[
            "Wir sehen mehrmals täglich denselben Timeout in {p}.\\nDas Problem besteht auch nach dem Leeren des Caches.",
            "Seit dem letzten Update stürzt {p} beim Export von Berichten ab. Bitte finden Sie die Ursache.",
        ],
        &[
            "Wir planen, {p} am Samstag zu aktualisieren. Bitte bestätigen Sie das Wartungsfenster.",
            "Bitte ändern Sie die Konfiguration von {p}, damit das neue Zertifikat verwendet wird.",
        ],
    ],
    closings: &[
        "Mit freundlichen Grüßen, <name>",
        "Danke, <name> (<tel_num>)",
        "Viele Grüße",
    ],
};

const ES: Phrases = Phrases {
    lang: "es",
    products: &[
        "el cliente VPN",
        "nuestro CRM",
        "el portal de facturación",
        "la aplicación móvil",
    ],
    subjects: [
        &["{p} no funciona", "Urgente: no puedo acceder a {p}"],
        &[
            "Solicitud de acceso a {p}",
            "Pregunta sobre el precio de {p}",
        ],
        &["Errores recurrentes en {p}", "{p} se bloquea a menudo"],
        &[
            "Actualización planificada de {p}",
            "Solicitud de cambio para {p}",
        ],
    ],
    bodies: [
        &[
            "Hola, desde esta mañana {p} no responde y el equipo no puede trabajar.",
            "Buenos días, {p} dejó de funcionar después de reiniciar.<br>Cuenta <acc_num>.",
        ],
        &[
            "Hola, ¿pueden dar acceso a {p} a <name>? Lo necesitamos para el nuevo proyecto.",
            "Queremos pedir dos licencias adicionales para {p}.",
        ],
        &[
            "Vemos el mismo error de tiempo de espera en {p} varias veces al día.",
            "Desde la última actualización {p} se bloquea al exportar informes.",
        ],
        &[
            "Planeamos actualizar {p} el sábado. Por favor confirmen la ventana de mantenimiento.",
            "Por favor cambien la configuración de {p} para usar el nuevo certificado.",
        ],
    ],
    closings: &["Saludos, <name>", "Gracias"],
};

const FR: Phrases = Phrases {
    lang: "fr",
    products: &[
        "le client VPN",
        "notre CRM",
        "le portail de facturation",
        "l'application mobile",
    ],
    subjects: [
        &[
            "{p} est en panne",
            "Urgent : impossible de se connecter à {p}",
        ],
        &["Demande d'accès à {p}", "Question sur le tarif de {p}"],
        &["Erreurs récurrentes dans {p}", "{p} plante régulièrement"],
        &[
            "Mise à niveau prévue de {p}",
            "Demande de changement pour {p}",
        ],
    ],
    bodies: [
        &[
            "Bonjour, depuis ce matin {p} ne répond plus et l'équipe ne peut pas travailler.",
            "Bonjour, {p} ne fonctionne plus après un redémarrage.<br>Compte <acc_num>.",
        ],
        &[
            "Bonjour, pourriez-vous donner accès à {p} à <name> ? Nous en avons besoin pour le projet.",
            "Nous souhaitons commander deux licences supplémentaires pour {p}.",
        ],
        &[
            "Nous voyons le même délai d'attente dans {p} plusieurs fois par jour.",
            "Depuis la dernière mise à jour, {p} plante lors de l'export des rapports.",
        ],
        &[
            "Nous prévoyons de mettre à jour {p} samedi. Merci de confirmer la fenêtre de maintenance.",
            "Merci de modifier la configuration de {p} pour utiliser le nouveau certificat.",
        ],
    ],
    closings: &["Cordialement, <name>", "Merci"],
};

const PT: Phrases = Phrases {
    lang: "pt",
    products: &[
        "o cliente VPN",
        "nosso CRM",
        "o portal de faturamento",
        "o aplicativo móvel",
    ],
    subjects: [
        &["{p} está fora do ar", "Urgente: não consigo acessar {p}"],
        &["Pedido de acesso a {p}", "Dúvida sobre o preço de {p}"],
        &["Erros recorrentes em {p}", "{p} trava com frequência"],
        &["Atualização planejada de {p}", "Pedido de mudança para {p}"],
    ],
    bodies: [
        &[
            "Olá, desde esta manhã {p} não responde e a equipe não consegue trabalhar.",
            "Bom dia, {p} parou de funcionar depois de reiniciar.<br>Conta <acc_num>.",
        ],
        &[
            "Olá, podem dar acesso a {p} para <name>? Precisamos para o novo projeto.",
            "Gostaríamos de pedir duas licenças adicionais para {p}.",
        ],
        &[
            "Vemos o mesmo erro de tempo limite em {p} várias vezes por dia.",
            "Desde a última atualização {p} trava ao exportar relatórios.",
        ],
        &[
            "Planejamos atualizar {p} no sábado. Por favor confirmem a janela de manutenção.",
            "Por favor alterem a configuração de {p} para usar o novo certificado.",
        ],
    ],
    closings: &["Atenciosamente, <name>", "Obrigado"],
};

/// Language mix of the generated data: mostly English and German, like the real exports.
const LANGUAGES: [(&Phrases, u32); 5] = [(&EN, 55), (&DE, 30), (&ES, 5), (&FR, 5), (&PT, 5)];

fn weighted<'a, T>(rng: &mut fastrand::Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.u32(0..total.max(1));
    for (item, w) in items {
        if pick < *w {
            return item;
        }
        pick -= w;
    }
    &items[items.len() - 1].0
}

fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(0..items.len())]
}

/// Generates ticket `index` of the stream seeded by `seed`. Ids are `synth-<seed>-<index>`.
pub fn ticket(seed: u64, index: u64) -> Ticket {
    // One generator per ticket, derived from (seed, index): any ticket can be produced without
    // the ones before it, so a sharded generator gives the same data as a sequential one.
    let mut rng = fastrand::Rng::with_seed(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let phrases = *weighted(&mut rng, &LANGUAGES);
    let weighted_types: Vec<(usize, u32)> = TYPE_WEIGHTS.iter().copied().enumerate().collect();
    let t = *weighted(&mut rng, &weighted_types);
    let product = pick(&mut rng, phrases.products);
    let subject = if rng.u8(0..10) == 0 {
        String::new() // real exports have empty subjects now and then
    } else {
        pick(&mut rng, phrases.subjects[t]).replace("{p}", product)
    };
    let mut body = pick(&mut rng, phrases.bodies[t]).replace("{p}", product);
    body.push_str("\\n\\n");
    body.push_str(pick(&mut rng, phrases.closings));
    Ticket {
        id: format!("synth-{seed}-{index}"),
        row: index + 1,
        subject,
        body,
        answer: None,
        ticket_type: Some(TYPES[t].to_string()),
        queue: Some(pick(&mut rng, &QUEUES).to_string()),
        priority: Some(pick(&mut rng, &PRIORITIES).to_string()),
        language: Some(phrases.lang.to_string()),
        tags: Vec::new(),
    }
}

/// Writes `rows` generated tickets as CSV with the export's columns plus `id`.
pub fn write_csv<W: Write>(out: W, seed: u64, rows: u64) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "id", "subject", "body", "type", "queue", "priority", "language",
    ])?;
    for i in 0..rows {
        let t = ticket(seed, i);
        w.write_record([
            t.id.as_str(),
            &t.subject,
            &t.body,
            t.ticket_type.as_deref().unwrap_or(""),
            t.queue.as_deref().unwrap_or(""),
            t.priority.as_deref().unwrap_or(""),
            t.language.as_deref().unwrap_or(""),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_tickets_and_random_access_matches_sequential() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_csv(&mut a, 7, 50).expect("write");
        write_csv(&mut b, 7, 50).expect("write");
        assert_eq!(a, b);
        let mut c = Vec::new();
        write_csv(&mut c, 8, 50).expect("write");
        assert_ne!(a, c, "another seed gives other data");
        assert_eq!(ticket(7, 42), ticket(7, 42));
    }

    #[test]
    fn mix_covers_every_type_and_language() {
        let tickets: Vec<Ticket> = (0..2_000).map(|i| ticket(1, i)).collect();
        for ty in TYPES {
            assert!(
                tickets.iter().any(|t| t.ticket_type.as_deref() == Some(ty)),
                "{ty}"
            );
        }
        for lang in ["en", "de", "es", "fr", "pt"] {
            assert!(
                tickets.iter().any(|t| t.language.as_deref() == Some(lang)),
                "{lang}"
            );
        }
        assert!(tickets.iter().any(|t| t.subject.is_empty()));
        assert!(tickets.iter().all(|t| !t.body.is_empty()));
    }
}
