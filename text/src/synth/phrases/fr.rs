//! The French phrase tables.

use super::Phrases;
use crate::synth::mix::DateStyle;

pub(super) const FR: Phrases = Phrases {
    lang: "fr",
    products: &["Outlook", "SAP", "Salesforce", "Teams", "SharePoint"],
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
    pair_subjects: [
        &["Erreur dans {p} depuis la mise à jour", "Problème avec {p}"],
        &["Merci de mettre à jour {p}", "Configurer {p} pour l'équipe"],
    ],
    any_subjects: &["{p}", "Question concernant {p}"],
    openings: &["Bonjour,", "Madame, Monsieur,", "Bonjour à toute l'équipe,"],
    sentences: [
        &[
            "Depuis ce matin {p} ne répond plus et l'équipe ne peut pas travailler.",
            "{p} est tombé il y a une heure et personne ne peut se connecter.",
            "Des clients sont touchés, merci d'intervenir au plus vite.",
        ],
        &[
            "Pourriez-vous donner accès à {p} à <name> ?",
            "Nous souhaitons commander deux licences supplémentaires pour {p}.",
            "Merci de nous envoyer un devis pour {p} à <email>.",
        ],
        &[
            "Nous voyons le même délai d'attente dans {p} plusieurs fois par jour.",
            "Le problème dure depuis deux semaines et nous avons besoin de la cause.",
            "Un redémarrage aide quelques heures, puis les erreurs reviennent.",
        ],
        &[
            "Nous prévoyons de mettre {p} à niveau samedi.",
            "Merci de confirmer la fenêtre de maintenance pour la migration.",
            "Le changement a été validé par le comité des changements.",
        ],
    ],
    pair_sentences: [
        &[
            "Depuis la dernière mise à jour, {p} affiche une erreur.",
            "{p} plante lors de l'export des rapports.",
            "La connexion à {p} coupe sans arrêt.",
        ],
        &[
            "Merci de mettre {p} à jour vers la dernière version.",
            "Pourriez-vous configurer {p} pour l'authentification unique ?",
            "Nous voulons modifier les droits des utilisateurs dans {p}.",
        ],
    ],
    any_sentences: &[
        "Nous utilisons {p} à la comptabilité.",
        "Je joins une capture d'écran.",
        "Dites-moi si vous avez besoin d'autres informations.",
    ],
    details: [
        &["Code d'erreur : {code}."],
        &["Nous sommes en version {ver}."],
        &["Date : {date}."],
        &["Environ {n} utilisateurs sont concernés."],
        &["Compte <acc_num>.", "Mon numéro : <tel_num>."],
    ],
    closings: &["Cordialement, <name>", "Merci", "Bien à vous"],
    swaps: &[("Merci de", "Pourriez-vous"), ("souhaitons", "voulons")],
    dates: DateStyle::Slashed,
};
