//! The Dockerfile builds the model with the same setup script as `make setup`.

use crate::support::*;

#[test]
fn the_image_runs_the_same_setup_as_make_setup() {
    let dockerfile = read(&root().join("Dockerfile"));
    let setup = read(&root().join("scripts/setup.sh"));
    let stages: Vec<&str> = dockerfile.split("\nFROM ").skip(1).collect();
    let stage = |name: &str| -> &str {
        stages
            .iter()
            .find(|s| {
                s.lines()
                    .next()
                    .is_some_and(|l| l.trim_end().ends_with(&format!(" AS {name}")))
            })
            .copied()
            .unwrap_or_else(|| panic!("Dockerfile: no stage {name}"))
    };
    // Builder: the official Rust image, pinned to the toolchain we build with.
    let rust_image = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_IMAGE="))
        .expect("ARG RUST_IMAGE");
    assert!(
        rust_image.starts_with("rust:1.") && rust_image.contains('-'),
        "{rust_image}"
    );
    assert!(stage("builder").contains("cargo build --release --locked"));
    // Model: the setup script's `model` step, which the script's default (`make setup`) also
    // runs, function for function.
    let model = stage("model");
    assert!(
        model.contains("COPY scripts/setup.sh"),
        "model stage must copy the setup script"
    );
    assert!(
        model.contains("RUN scripts/setup.sh model"),
        "model stage must run it"
    );
    let case = |name: &str| -> Vec<&str> {
        let start = setup
            .find(&format!("\n  {name})"))
            .unwrap_or_else(|| panic!("setup.sh: no `{name})` step"));
        let body = &setup[start + 1..];
        let end = body.find(";;").expect("step end");
        body[..end]
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("log "))
            .collect()
    };
    let all = case("all");
    for step in case("model") {
        assert!(
            all.contains(&step),
            "`setup.sh model` runs {step}, which `make setup` does not"
        );
    }
    // Whatever the model stage copies must be in the build context.
    let ignore = read(&root().join(".dockerignore"));
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for l in model
        .lines()
        .filter(|l| l.trim_start().starts_with("COPY "))
    {
        let src = l
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches('/');
        assert!(root().join(src).exists(), "Dockerfile copies missing {src}");
        assert!(
            !ignored
                .iter()
                .any(|i| src == *i || src.starts_with(&format!("{i}/"))),
            ".dockerignore drops {src}, which the model stage copies"
        );
    }
    for must in ["target", "var", ".venv", ".venv-*", ".git"] {
        assert!(ignored.contains(&must), ".dockerignore lacks {must}");
    }
    // Runtime: non-root, the library and model where the environment says, one entry point.
    let runtime = stage("runtime");
    for must in [
        "USER 10001",
        "ENTRYPOINT [\"ticketflow\"]",
        "EXPOSE 9464",
        "org.opencontainers.image.source",
        "ORT_DYLIB_PATH=/opt/ticketflow/lib/libonnxruntime.so",
        "TICKETFLOW_MODEL_DIR=/opt/ticketflow/models/all-minilm-l6-v2",
        "/opt/ticketflow/lib/libonnxruntime.so\n",
        "/opt/ticketflow/models/all-minilm-l6-v2\n",
        "curl",
    ] {
        assert!(
            runtime.contains(must),
            "Dockerfile runtime stage lacks {must:?}"
        );
    }
}
