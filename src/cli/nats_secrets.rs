//! `ticketflow nats-secrets`: the secrets of a NATS server that requires TLS and an NKey, made
//! for a single host (docker-compose runs this as its one-shot `nats-secrets` service).
//!
//! In Kubernetes these come from cert-manager and the NATS operator's tooling, mounted from
//! Secrets (docs/deploy.md). On one host there is neither, and asking a user to run `openssl`
//! and `nk` by hand before `docker compose up` is how local stacks end up in plain text. So the
//! binary makes them, with rcgen (certificates) and nkeys (the NATS key format):
//!
//! | file | what | mode |
//! | --- | --- | --- |
//! | `ca.pem` | a private CA, made for this directory; its key is not kept | 0644 |
//! | `server.pem`, `server-key.pem` | the server's certificate for `--server-name`s | 0644, 0600 |
//! | `client.pem`, `client-key.pem` | the client certificate every ticketflow process shows | 0644, 0600 |
//! | `user.nk` | the NKey seed (`SU…`) every ticketflow process signs in with | 0600 |
//! | `auth.conf` | nats-server `authorization` block admitting that NKey's public key | 0644 |
//!
//! Running it again keeps what is there (compose runs it on every `up`); `--force` makes new
//! ones. `auth.conf` is written last, so a directory that has it is complete; `--force` first
//! removes the old `auth.conf`, so a renewal cut short (new CA, old client key) is never taken
//! for a complete set: the next run says the set is partial.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const CA: &str = "ca.pem";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server-key.pem";
const CLIENT_CERT: &str = "client.pem";
const CLIENT_KEY: &str = "client-key.pem";
const NKEY_SEED: &str = "user.nk";
const AUTH_CONF: &str = "auth.conf";
const ALL: [&str; 7] = [
    CA,
    SERVER_CERT,
    SERVER_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    NKEY_SEED,
    AUTH_CONF,
];

#[derive(Debug, Args)]
pub struct NatsSecretsArgs {
    /// Directory to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Names (DNS or IP) the server certificate is valid for; repeat the flag for each.
    #[arg(long = "server-name", default_values = ["nats", "localhost", "127.0.0.1"])]
    pub server_names: Vec<String>,
    /// Replace secrets already in --out (every client then needs the new ones).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: NatsSecretsArgs) -> anyhow::Result<()> {
    let present: Vec<&str> = ALL
        .into_iter()
        .filter(|f| args.out.join(f).exists())
        .collect();
    if !args.force {
        if present.len() == ALL.len() {
            println!("nats-secrets: kept the secrets in {}", args.out.display());
            return Ok(());
        }
        if !present.is_empty() {
            bail!(
                "{} holds only some of the NATS secrets ({}); rerun with --force to make a new set",
                args.out.display(),
                present.join(", ")
            );
        }
    }
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let set = SecretSet::generate(&args.server_names)?;
    // From here until the new auth.conf is written, the directory holds no complete set.
    match fs::remove_file(args.out.join(AUTH_CONF)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("removing the old {AUTH_CONF}"));
        }
    }
    set.write(&args.out)?;
    println!(
        "nats-secrets: wrote a CA, server and client certificates and an NKey user ({}) to {}",
        set.nkey_public,
        args.out.display()
    );
    Ok(())
}

struct SecretSet {
    ca: String,
    server: (String, String),
    client: (String, String),
    nkey_seed: String,
    nkey_public: String,
}

impl SecretSet {
    fn generate(server_names: &[String]) -> anyhow::Result<SecretSet> {
        if server_names.is_empty() {
            bail!("--server-name: the server certificate needs at least one name");
        }
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.distinguished_name
            .push(DnType::CommonName, "ticketflow local NATS CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);
        let leaf = |common_name: &str, names: Vec<String>, usage| -> anyhow::Result<_> {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(names)
                .with_context(|| format!("certificate names for {common_name}"))?;
            params
                .distinguished_name
                .push(DnType::CommonName, common_name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &issuer)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let user = nkeys::KeyPair::new_user();
        Ok(SecretSet {
            ca: ca_cert.pem(),
            server: leaf(
                "nats",
                server_names.to_vec(),
                ExtendedKeyUsagePurpose::ServerAuth,
            )?,
            client: leaf(
                "ticketflow",
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
            )?,
            nkey_seed: user.seed().context("encoding the NKey seed")?,
            nkey_public: user.public_key(),
        })
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let auth = format!(
            "# Written by `ticketflow nats-secrets`: the one user let in, by its public NKey.\n\
             authorization {{\n  users = [\n    {{ nkey: \"{}\" }}\n  ]\n}}\n",
            self.nkey_public
        );
        for (name, text, mode) in [
            (CA, &self.ca, 0o644),
            (SERVER_CERT, &self.server.0, 0o644),
            (SERVER_KEY, &self.server.1, 0o600),
            (CLIENT_CERT, &self.client.0, 0o644),
            (CLIENT_KEY, &self.client.1, 0o600),
            (NKEY_SEED, &self.nkey_seed, 0o600),
            // Last: its presence says the set is complete.
            (AUTH_CONF, &auth, 0o644),
        ] {
            write_file(&dir.join(name), text, mode)?;
        }
        Ok(())
    }
}

/// Writes through a temporary file and a rename, with the mode set before any byte is written,
/// so a key is never readable by others, not even for a moment.
fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
