use serde::{Deserialize, Serialize};

/// One support ticket as accepted by the loader.
///
/// Only `subject` and `body` are required to carry text; every label and routing field is optional
/// because inference runs arrive without labels and newer exports add or drop columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Stable identifier: the input's id column when it has one, otherwise a content hash, so a
    /// rerun over the same data produces the same ids (and Chroma upserts stay idempotent).
    pub id: String,
    /// 1-based data row in the source file (the header is not counted).
    pub row: u64,
    pub subject: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The label the classifier learns: Incident, Request, Problem or Change.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Language as given by the input (ISO 639-1 such as `en`), when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_type_under_its_csv_name_and_omits_empty_fields() {
        let t = Ticket {
            id: "abc".into(),
            row: 3,
            subject: "VPN down".into(),
            body: "It fails.".into(),
            answer: None,
            ticket_type: Some("Incident".into()),
            queue: None,
            priority: None,
            language: Some("en".into()),
            tags: vec![],
        };
        let json = serde_json::to_value(&t).expect("serialise");
        assert_eq!(json["type"], "Incident");
        assert!(json.get("answer").is_none());
        let back: Ticket = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, t);
    }
}
