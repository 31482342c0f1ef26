//! Tests of [`super`] (registry.rs), kept beside it so the module itself stays readable.

use super::*;

/// A champion that scored `champion_f1` on the 150 tickets neither trained on, where the
/// challenger scored `f1`.
fn same_rows(f1: f64, champion_f1: f64) -> ChampionComparison {
    ChampionComparison {
        champion: "old".into(),
        comparable: true,
        reason: None,
        compared_rows: 150,
        challenger_held_out: 200,
        champion_trained_excluded: 50,
        challenger_holdout_macro_f1: f1,
        champion_holdout_macro_f1: Some(champion_f1),
        challenger_cv_macro_f1: None,
        champion_cv_macro_f1: None,
    }
}

#[test]
fn gate_compares_challenger_and_champion_on_the_same_rows() {
    let gate = QualityGate {
        min_macro_f1: 0.5,
        tolerance: 0.02,
        min_compare_rows: 100,
    };
    assert_eq!(
        gate.judge(0.70, None),
        GateVerdict::Promoted {
            previous: None,
            note: None
        }
    );
    assert_eq!(
        gate.judge(0.75, Some(&same_rows(0.75, 0.70))),
        GateVerdict::Promoted {
            previous: Some("old".into()),
            note: None
        }
    );
    // Within tolerance still promotes (noise between fits is not a regression).
    assert!(matches!(
        gate.judge(0.69, Some(&same_rows(0.69, 0.70))),
        GateVerdict::Promoted { .. }
    ));
    match gate.judge(0.60, Some(&same_rows(0.60, 0.70))) {
        GateVerdict::Rejected { reason } => {
            assert!(
                reason.contains("on the same 150 tickets neither trained on"),
                "{reason}"
            )
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    match gate.judge(0.40, None) {
        GateVerdict::Rejected { reason } => assert!(reason.contains("below the minimum")),
        other => panic!("expected rejection, got {other:?}"),
    }
}

#[test]
fn a_champion_of_another_lineage_is_not_compared_and_the_floor_decides() {
    let gate = QualityGate::default();
    let other = ChampionComparison {
        comparable: false,
        reason: Some("label set changed".into()),
        champion_holdout_macro_f1: None,
        champion_cv_macro_f1: None,
        ..same_rows(0.65, 0.99)
    };
    match gate.judge(0.65, Some(&other)) {
        GateVerdict::Promoted {
            previous: Some(previous),
            note: Some(note),
        } => {
            assert_eq!(previous, "old");
            assert!(
                note.contains("label set changed") && note.contains("floor alone"),
                "{note}"
            );
        }
        other => panic!("expected promotion by the floor, got {other:?}"),
    }
    assert!(matches!(
        gate.judge(0.55, Some(&other)),
        GateVerdict::Rejected { .. }
    ));
}

#[test]
fn lineage_mismatch_names_what_changed() {
    let classes = vec!["A".to_string(), "B".to_string()];
    let more = vec!["A".to_string(), "B".to_string(), "C".to_string()];
    let base = Lineage {
        embedding_model: EMBEDDING_MODEL_ID,
        embedding_precision: "fp32",
        embed_input: "normalized",
        classes: &classes,
    };
    assert_eq!(base.mismatch(&base.clone()), None);
    let int8 = Lineage {
        embedding_precision: "int8",
        ..base.clone()
    };
    assert!(base.mismatch(&int8).expect("differs").contains("precision"));
    let cleaned = Lineage {
        embed_input: "cleaned",
        ..base.clone()
    };
    assert!(base.mismatch(&cleaned).expect("differs").contains("input"));
    let labels = Lineage {
        classes: &more,
        ..base.clone()
    };
    assert!(
        base.mismatch(&labels)
            .expect("differs")
            .contains("label set")
    );
}

/// Too few tickets that neither model trained on: no comparison, however the scores look; the
/// floor decides and the verdict says why.
#[test]
fn too_few_unseen_tickets_leave_the_floor_to_decide_and_say_so() {
    let gate = QualityGate {
        min_macro_f1: 0.6,
        tolerance: 0.02,
        min_compare_rows: 100,
    };
    let few = ChampionComparison {
        compared_rows: 40,
        ..same_rows(0.65, 0.95)
    };
    match gate.judge(0.65, Some(&few)) {
        GateVerdict::Promoted {
            note: Some(note), ..
        } => assert!(
            note.contains("only 40 tickets neither model trained on (the gate needs 100)"),
            "{note}"
        ),
        other => panic!("expected promotion by the floor alone, got {other:?}"),
    }
    assert!(matches!(
        gate.judge(0.55, Some(&few)),
        GateVerdict::Rejected { reason } if reason.contains("below the minimum")
    ));
    // At the minimum, the comparison counts.
    let enough = ChampionComparison {
        compared_rows: 100,
        ..same_rows(0.65, 0.95)
    };
    assert!(matches!(
        gate.judge(0.65, Some(&enough)),
        GateVerdict::Rejected { .. }
    ));
}
