//! `itscam users …`: users, API keys and second factors, written to the lake's auth log (so a
//! running `serve` of the same lake sees them within `[auth] refresh_ms`). Passwords are read
//! from standard input, one line, never from the command line (it would stay in the shell's
//! history and `ps`). Each change is also an `audit` row (`who` = `cli`).

use anyhow::Context;
use itscam_engine::audit::{Audit, AuditRow};
use itscam_engine::auth::{Auth, NewUser, UserPatch, parse_role};
use itscam_sinks::Lake;
use std::io::BufRead;
use std::process::ExitCode;

/// What to do.
#[derive(clap::Subcommand)]
pub enum UsersAction {
    /// Add a user; the password is read from standard input (one line, at least 10 characters).
    Add {
        /// Login name.
        name: String,
        /// viewer, analyst, operator or admin.
        #[arg(long)]
        role: String,
        /// Limit the user to these cameras (comma-separated ids; default: every camera).
        #[arg(long, value_delimiter = ',')]
        cameras: Vec<String>,
    },
    /// List users (name, role, cameras, disabled, TOTP, keys).
    List,
    /// Disable a user: they cannot log in, and their tokens and keys stop working at once.
    Disable {
        /// Login name.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        name: String,
    },
    /// Set a new password (read from standard input); ends every session of the user.
    Passwd {
        /// Login name.
        name: String,
    },
    /// Change a user's role or cameras.
    Set {
        /// Login name.
        name: String,
        /// New role.
        #[arg(long)]
        role: Option<String>,
        /// New camera scope (comma-separated; `--cameras ''` for every camera).
        #[arg(long, value_delimiter = ',')]
        cameras: Option<Vec<String>>,
    },
    /// Set up (or replace) a user's TOTP second factor; prints the secret and its otpauth:// URL once.
    Totp {
        /// Login name.
        name: String,
    },
    /// API keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

/// `itscam users keys …`.
#[derive(clap::Subcommand)]
pub enum KeysAction {
    /// Make an API key for a user; prints it once (only its hash is kept).
    Add {
        /// Whose key (it acts as that user).
        user: String,
        /// What it is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a user's keys (ids and labels).
    List {
        /// Whose keys.
        user: String,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        /// The key's id (`itk_<id>_…`).
        id: String,
    },
}

fn read_password() -> anyhow::Result<String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password (shown as typed; pipe it in to avoid that): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Runs `action` on `lake`'s users.
pub fn run(lake: Lake, config: &itscam_types::config::AuthConfig, action: UsersAction) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let auth = Auth::open(&lake, config).await?;
        let audit = Audit::new(lake.clone());
        let (what, detail) = act(&auth, action).await?;
        audit.record(AuditRow::of_command(&what, Some(detail), "ok"));
        audit.flush().await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn act(auth: &Auth, action: UsersAction) -> anyhow::Result<(String, String)> {
    let who = "cli";
    Ok(match action {
        UsersAction::Add { name, role, cameras } => {
            let new = NewUser { name: name.clone(), role: parse_role(&role)?, password: read_password()?, cameras };
            let u = auth.add_user(who, new).await?;
            println!("added user {} ({})", u.name, u.role);
            ("users add".into(), name)
        }
        UsersAction::List => {
            for u in auth.users() {
                let cameras = if u.cameras.is_empty() { "all cameras".to_string() } else { u.cameras.join(",") };
                let keys: Vec<String> = auth.keys_of(&u.name).iter().map(|k| k.id.clone()).collect();
                let state = if u.disabled { "disabled" } else { "enabled" };
                println!("{}\t{}\t{cameras}\t{state}\ttotp={}\tkeys={}", u.name, u.role, u.totp_secret.is_some(), keys.join(","));
            }
            ("users list".into(), String::new())
        }
        UsersAction::Disable { name } => {
            auth.change_user(who, &name, UserPatch { disabled: Some(true), ..UserPatch::default() }).await?;
            println!("disabled {name}: their tokens and keys no longer work");
            ("users disable".into(), name)
        }
        UsersAction::Enable { name } => {
            auth.change_user(who, &name, UserPatch { disabled: Some(false), ..UserPatch::default() }).await?;
            println!("enabled {name}");
            ("users enable".into(), name)
        }
        UsersAction::Passwd { name } => {
            auth.change_user(who, &name, UserPatch { password: Some(read_password()?), ..UserPatch::default() }).await?;
            println!("new password for {name}; their sessions have ended");
            ("users passwd".into(), name)
        }
        UsersAction::Set { name, role, cameras } => {
            let role = role.as_deref().map(parse_role).transpose()?;
            let cameras = cameras.map(|c| c.into_iter().filter(|c| !c.is_empty()).collect());
            let u = auth.change_user(who, &name, UserPatch { role, cameras, ..UserPatch::default() }).await?;
            println!("{}: {}, cameras {}", u.name, u.role, if u.cameras.is_empty() { "all".to_string() } else { u.cameras.join(",") });
            ("users set".into(), name)
        }
        UsersAction::Totp { name } => {
            let (secret, url) = auth.set_totp(who, &name).await?;
            println!("TOTP for {name} (shown once; add it to an authenticator app):\nsecret {secret}\n{url}");
            ("users totp".into(), name)
        }
        UsersAction::Keys { action } => keys(auth, action).await?,
    })
}

async fn keys(auth: &Auth, action: KeysAction) -> anyhow::Result<(String, String)> {
    Ok(match action {
        KeysAction::Add { user, label } => {
            let made = auth.add_key("cli", &user, &label).await?;
            println!("{}", made.key);
            eprintln!("API key {} for {user} (shown once; send it as X-API-Key)", made.record.id);
            ("users keys add".into(), format!("{user} key {}", made.record.id))
        }
        KeysAction::List { user } => {
            for k in auth.keys_of(&user) {
                println!("{}\t{}\t{}", k.id, k.created_ms, k.label);
            }
            ("users keys list".into(), user)
        }
        KeysAction::Revoke { id } => {
            let k = auth.revoke_key("cli", &id).await?;
            println!("revoked key {id} of {}", k.user);
            ("users keys revoke".into(), format!("{} key {id}", k.user))
        }
    })
}
