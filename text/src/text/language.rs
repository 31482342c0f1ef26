//! Language detection.
//!
//! `whatlang` guesses; this module cleans its input (no placeholders, a capped
//! sample) and settles its unreliable guesses with stop words. The codes it
//! returns are ISO 639-1, mapped by [`super::language_code`].

use super::language_code::iso_code;
use super::stopwords;
use super::tokenize;

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
    use whatlang::Lang;

    use super::*;

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
