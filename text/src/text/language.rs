//! Language codes and language detection.
//!
//! The pipeline speaks ISO 639-1 (`"en"`, `"de"`): that is what the exports'
//! `language` column holds and what the stop-word lists are keyed by.
//! `whatlang`, the detector, speaks ISO 639-3 (`Lang::Deu`), so this module
//! owns the mapping between the two.

use whatlang::Lang;

use super::stopwords::{self, SUPPORTED_STOPWORD_LANGUAGES};
use super::tokenize;

/// Every language `whatlang` can detect, with its ISO 639-1 code.
///
/// Norwegian Bokmål maps to `no` (the macrolanguage) because that is the code
/// the stop-word lists and most exports use.
const ISO_639_1: &[(Lang, &str)] = &[
    (Lang::Afr, "af"),
    (Lang::Aka, "ak"),
    (Lang::Amh, "am"),
    (Lang::Ara, "ar"),
    (Lang::Aze, "az"),
    (Lang::Bel, "be"),
    (Lang::Ben, "bn"),
    (Lang::Bul, "bg"),
    (Lang::Cat, "ca"),
    (Lang::Ces, "cs"),
    (Lang::Cmn, "zh"),
    (Lang::Cym, "cy"),
    (Lang::Dan, "da"),
    (Lang::Deu, "de"),
    (Lang::Ell, "el"),
    (Lang::Eng, "en"),
    (Lang::Epo, "eo"),
    (Lang::Est, "et"),
    (Lang::Fin, "fi"),
    (Lang::Fra, "fr"),
    (Lang::Guj, "gu"),
    (Lang::Heb, "he"),
    (Lang::Hin, "hi"),
    (Lang::Hrv, "hr"),
    (Lang::Hun, "hu"),
    (Lang::Hye, "hy"),
    (Lang::Ind, "id"),
    (Lang::Ita, "it"),
    (Lang::Jav, "jv"),
    (Lang::Jpn, "ja"),
    (Lang::Kan, "kn"),
    (Lang::Kat, "ka"),
    (Lang::Khm, "km"),
    (Lang::Kor, "ko"),
    (Lang::Lat, "la"),
    (Lang::Lav, "lv"),
    (Lang::Lit, "lt"),
    (Lang::Mal, "ml"),
    (Lang::Mar, "mr"),
    (Lang::Mkd, "mk"),
    (Lang::Mya, "my"),
    (Lang::Nep, "ne"),
    (Lang::Nld, "nl"),
    (Lang::Nob, "no"),
    (Lang::Ori, "or"),
    (Lang::Pan, "pa"),
    (Lang::Pes, "fa"),
    (Lang::Pol, "pl"),
    (Lang::Por, "pt"),
    (Lang::Ron, "ro"),
    (Lang::Rus, "ru"),
    (Lang::Sin, "si"),
    (Lang::Slk, "sk"),
    (Lang::Slv, "sl"),
    (Lang::Sna, "sn"),
    (Lang::Spa, "es"),
    (Lang::Srp, "sr"),
    (Lang::Swe, "sv"),
    (Lang::Tam, "ta"),
    (Lang::Tel, "te"),
    (Lang::Tgl, "tl"),
    (Lang::Tha, "th"),
    (Lang::Tuk, "tk"),
    (Lang::Tur, "tr"),
    (Lang::Ukr, "uk"),
    (Lang::Urd, "ur"),
    (Lang::Uzb, "uz"),
    (Lang::Vie, "vi"),
    (Lang::Yid, "yi"),
    (Lang::Zul, "zu"),
];

/// Codes people write that mean a language in the table under another code.
const ALIASES: &[(&str, &str)] = &[("nb", "no"), ("iw", "he"), ("in", "id"), ("ji", "yi")];

/// The ISO 639-1 code of a `whatlang` language.
fn iso_code(lang: Lang) -> Option<&'static str> {
    ISO_639_1
        .iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, code)| *code)
}

/// Turns a language label as it appears in data or on a command line into a
/// canonical ISO 639-1 code, or `None` when it names no language we know.
///
/// Accepted: ISO 639-1 in any case with a region or script suffix (`"en"`,
/// `" EN "`, `"en-US"`, `"pt_BR"`), ISO 639-3 (`"deu"`), and English or
/// native language names (`"German"`, `"Deutsch"`).
///
/// ```
/// use ticketflow_text::text::canonical_language_code;
///
/// assert_eq!(canonical_language_code("EN"), Some("en"));
/// assert_eq!(canonical_language_code("pt-BR"), Some("pt"));
/// assert_eq!(canonical_language_code("Deutsch"), Some("de"));
/// assert_eq!(canonical_language_code("xx"), None);
/// ```
pub fn canonical_language_code(label: &str) -> Option<&'static str> {
    let label = label.trim();
    let primary = label.split(['-', '_']).next().unwrap_or_default();
    let primary = primary.to_ascii_lowercase();
    match primary.len() {
        2 => {
            let code = ALIASES
                .iter()
                .find(|(alias, _)| *alias == primary)
                .map_or(primary.as_str(), |(_, code)| *code);
            ISO_639_1
                .iter()
                .map(|(_, c)| *c)
                .chain(SUPPORTED_STOPWORD_LANGUAGES.iter().copied())
                .find(|c| *c == code)
        }
        3 => Lang::from_code(primary.as_str()).and_then(iso_code),
        _ => {
            let lower = label.to_lowercase();
            Lang::all()
                .iter()
                .find(|l| l.eng_name().to_lowercase() == lower || l.name().to_lowercase() == lower)
                .copied()
                .and_then(iso_code)
        }
    }
}

/// Text longer than this is cut before detection. Trigram statistics settle
/// long before; cutting keeps a 50 kB ticket from costing 50 kB of work.
const DETECTION_SAMPLE_BYTES: usize = 2048;

/// Below this many letters an unreliable guess is no better than none:
/// `"Password reset fails"` comes back as Afrikaans.
const SHORT_TEXT_LETTERS: usize = 30;

/// The pipeline's main languages. Every unreliable guess is checked
/// against them, because short English tickets full of product names
/// (`Azure SQL Pricing Plans Inquiry …`) come back as French or Catalan.
const MAIN_LANGUAGES: &[&str] = &["en", "de", "es", "fr", "pt", "it", "nl"];

/// Closely related languages that `whatlang`'s trigrams mix up on short and
/// medium texts (a plain Dutch sentence comes back as Afrikaans, Russian as
/// Ukrainian). Their function words differ, so stop words break the tie.
const CONFUSABLE: &[&[&str]] = &[
    &["nl", "af"],
    &["ru", "uk", "bg"],
    &["da", "no", "sv"],
    &["cs", "sk"],
    &["hr", "sl"],
    &["es", "pt", "ca"],
];

/// Detects the language of `text` and returns its ISO 639-1 code.
///
/// Placeholders are removed first, since `<name>` and `<acc_num>` are English
/// words inside German tickets. The result is `whatlang`'s best guess, with
/// two refinements for guesses `whatlang` itself calls unreliable: on a very
/// short text the answer is `None`; otherwise stop words that only one of the
/// candidate languages uses get a say, which fixes Dutch read as Afrikaans,
/// Russian read as Ukrainian and English product blurbs read as French.
///
/// ```
/// use ticketflow_text::text::detect_language;
///
/// assert_eq!(
///     detect_language("Sehr geehrte Damen und Herren, ich kann mich seit gestern nicht anmelden."),
///     Some("de")
/// );
/// assert_eq!(detect_language(""), None);
/// ```
pub fn detect_language(text: &str) -> Option<&'static str> {
    let words = detection_words(text);
    let sample = words.join(" ");
    let info = whatlang::detect(&sample)?;
    let guess = iso_code(info.lang())?;
    if info.is_reliable() {
        return Some(guess);
    }
    let letters = sample.chars().filter(|c| c.is_alphabetic()).count();
    if letters < SHORT_TEXT_LETTERS {
        return None;
    }
    Some(second_opinion(guess, &words))
}

/// Second opinion on an unreliable guess, from stop words.
///
/// The candidates are the guess, the main languages and the guess's close
/// relatives. Each word that is a stop word of exactly one candidate is a
/// vote for it; shared words (`de` is Spanish, French, Dutch, Portuguese and,
/// as a country code, in the English list) say nothing. A candidate that
/// outvotes the guess replaces it.
fn second_opinion(guess: &'static str, words: &[String]) -> &'static str {
    let relatives = CONFUSABLE
        .iter()
        .find(|group| group.contains(&guess))
        .map_or(&[][..], |group| *group);
    let mut candidates: Vec<&'static str> = vec![guess];
    for &code in MAIN_LANGUAGES.iter().chain(relatives) {
        if !candidates.contains(&code) {
            candidates.push(code);
        }
    }
    let votes = stopwords::distinctive_votes(words, &candidates);
    // The guess is candidate 0. Only strictly more votes replace the
    // current best, so a draw keeps the guess.
    let mut best = (guess, votes.first().copied().unwrap_or(0));
    for (&code, &count) in candidates.iter().zip(&votes).skip(1) {
        if count > best.1 {
            best = (code, count);
        }
    }
    best.0
}

/// The lowercase words of `text` without placeholders or punctuation, up to
/// about [`DETECTION_SAMPLE_BYTES`] in all.
fn detection_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut len = 0;
    for token in tokenize(text) {
        if super::is_placeholder(&token) {
            continue;
        }
        // +1 for the space that joins it to the previous word.
        len += token.len() + 1;
        if len > DETECTION_SAMPLE_BYTES {
            break;
        }
        words.push(token);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whatlang_language_has_a_code() {
        for lang in Lang::all() {
            let code = iso_code(*lang);
            assert!(code.is_some_and(|c| c.len() == 2), "{lang:?}");
        }
        // And no code is used twice.
        let mut codes: Vec<_> = ISO_639_1.iter().map(|(_, c)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ISO_639_1.len());
    }

    #[test]
    fn canonicalises_codes() {
        assert_eq!(canonical_language_code("en"), Some("en"));
        assert_eq!(canonical_language_code("EN"), Some("en"));
        assert_eq!(canonical_language_code(" de "), Some("de"));
        assert_eq!(canonical_language_code("en-US"), Some("en"));
        assert_eq!(canonical_language_code("pt_BR"), Some("pt"));
        assert_eq!(canonical_language_code("zh-Hant-TW"), Some("zh"));
        assert_eq!(canonical_language_code("nb"), Some("no"));
        assert_eq!(canonical_language_code("deu"), Some("de"));
        assert_eq!(canonical_language_code("ENG"), Some("en"));
        assert_eq!(canonical_language_code("German"), Some("de"));
        assert_eq!(canonical_language_code("français"), Some("fr"));
        // In the stop-word lists but not in whatlang.
        assert_eq!(canonical_language_code("eu"), Some("eu"));
    }

    #[test]
    fn rejects_unknown_labels() {
        for label in ["", "  ", "xx", "e", "-", "english-ish", "zzz", "12", "ü"] {
            assert_eq!(canonical_language_code(label), None, "{label:?}");
        }
    }

    #[test]
    fn detects_the_main_languages() {
        let cases = [
            (
                "en",
                "I cannot log in to my account since yesterday and the password reset link does not work.",
            ),
            (
                "de",
                "Ich kann mich seit gestern nicht mehr in mein Konto einloggen und der Link funktioniert nicht.",
            ),
            (
                "es",
                "No puedo acceder a mi cuenta desde ayer y el enlace para restablecer la contraseña no funciona.",
            ),
            (
                "fr",
                "Je ne peux plus me connecter à mon compte depuis hier et le lien de réinitialisation ne fonctionne pas.",
            ),
            (
                "pt",
                "Não consigo acessar minha conta desde ontem e o link para redefinir a senha não funciona.",
            ),
            (
                "it",
                "Non riesco ad accedere al mio account da ieri e il link per reimpostare la password non funziona.",
            ),
            (
                "nl",
                "Ik kan sinds gisteren niet meer inloggen op mijn account en de link om het wachtwoord te herstellen werkt niet.",
            ),
        ];
        for (expected, text) in cases {
            assert_eq!(detect_language(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn stop_words_separate_close_relatives() {
        // whatlang alone says Afrikaans (unreliably) for this Dutch sentence.
        let dutch = "De printer op kantoor werkt sinds maandag niet meer en de netwerkverbinding is erg traag.";
        assert_eq!(whatlang::detect_lang(dutch), Some(Lang::Afr));
        assert_eq!(detect_language(dutch), Some("nl"));
        let afrikaans =
            "Die drukker in die kantoor werk nie sedert Maandag nie en die netwerk is baie stadig.";
        assert_eq!(detect_language(afrikaans), Some("af"));
        // And Ukrainian for this Russian one.
        let russian = "Я не могу войти в свою учетную запись со вчерашнего дня.";
        assert_eq!(whatlang::detect_lang(russian), Some(Lang::Ukr));
        assert_eq!(detect_language(russian), Some("ru"));
    }

    #[test]
    fn short_unreliable_guesses_are_dropped() {
        for text in [
            "ok",
            "Ticket",
            "VPN down",
            "login failed",
            "Password reset fails",
        ] {
            assert_eq!(detect_language(text), None, "{text}");
        }
    }

    #[test]
    fn detects_other_scripts() {
        assert_eq!(
            detect_language("Я не могу войти в систему, пароль не работает уже второй день."),
            Some("ru")
        );
        assert_eq!(
            detect_language("パスワードをリセットできません。助けてください。"),
            Some("ja")
        );
    }

    #[test]
    fn placeholders_do_not_sway_detection() {
        let text = "<name> <acc_num> <tel_num> <name> <email_address> Bitte setzen Sie mein Passwort für das Kundenportal zurück, danke.";
        assert_eq!(detect_language(text), Some("de"));
        assert_eq!(detection_words("<name> hallo <acc_num>"), ["hallo"]);
    }

    #[test]
    fn nothing_to_detect() {
        assert_eq!(detect_language(""), None);
        assert_eq!(detect_language("<name> <acc_num>"), None);
        assert_eq!(detect_language("12345 !!! 🔥"), None);
    }

    #[test]
    fn samples_are_capped() {
        let long = "word ".repeat(10_000);
        assert!(detection_words(&long).join(" ").len() <= DETECTION_SAMPLE_BYTES);
    }
}
