//! The Spanish phrase tables.

use super::Phrases;
use crate::synth::mix::DateStyle;

pub(super) const ES: Phrases = Phrases {
    lang: "es",
    products: &["Outlook", "SAP", "Salesforce", "Teams", "SharePoint"],
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
    pair_subjects: [
        &["Error en {p} desde la actualización", "Problema con {p}"],
        &["Por favor, actualizar {p}", "Configurar {p} para el equipo"],
    ],
    any_subjects: &["{p}", "Consulta sobre {p}"],
    openings: &["Hola,", "Buenos días,", "Estimado equipo de soporte,"],
    sentences: [
        &[
            "Desde esta mañana {p} no responde y el equipo no puede trabajar.",
            "{p} dejó de funcionar hace una hora y nadie puede entrar.",
            "Hay clientes afectados, por favor ayúdennos cuanto antes.",
        ],
        &[
            "¿Pueden dar acceso a {p} a <name>?",
            "Queremos pedir dos licencias adicionales para {p}.",
            "Por favor envíen una oferta para {p} a <email>.",
        ],
        &[
            "Vemos el mismo error de tiempo de espera en {p} varias veces al día.",
            "El problema continúa desde hace dos semanas y necesitamos la causa.",
            "Reiniciar ayuda unas horas, luego los errores vuelven.",
        ],
        &[
            "Planeamos actualizar {p} a la nueva versión el sábado.",
            "Por favor confirmen la ventana de mantenimiento para la migración.",
            "El cambio ya fue aprobado por el comité de cambios.",
        ],
    ],
    pair_sentences: [
        &[
            "Desde la última actualización {p} muestra un error.",
            "{p} se cierra al exportar informes.",
            "La conexión con {p} se corta una y otra vez.",
        ],
        &[
            "Por favor actualicen {p} a la última versión.",
            "¿Pueden configurar {p} para usar inicio de sesión único?",
            "Queremos cambiar los permisos de los usuarios en {p}.",
        ],
    ],
    any_sentences: &[
        "Usamos {p} en contabilidad.",
        "Adjunto una captura de pantalla.",
        "Avísenme si necesitan más información.",
    ],
    details: [
        &["Código de error: {code}."],
        &["Usamos la versión {ver}."],
        &["Fecha: {date}."],
        &["Afecta a unos {n} usuarios."],
        &["Cuenta <acc_num>.", "Mi teléfono es <tel_num>."],
    ],
    closings: &["Saludos, <name>", "Gracias", "Un saludo"],
    swaps: &[("Queremos", "Quisiéramos"), ("Pueden", "Podrían")],
    dates: DateStyle::Slashed,
};
