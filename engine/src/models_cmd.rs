//! `itscam models …`: the model registry in the lake (README "Models"). Changes are control-log
//! entries (who = `cli` or `$USER`), so a running `serve` of the same lake swaps models within
//! `[models] refresh_ms`; each is also an `audit` row.

use itscam_engine::audit::{Audit, AuditRow};
use itscam_engine::models::{Registration, Registry, Stage, Stored, register};
use itscam_types::config::{ModelFamily, PipelineConfig};
use std::path::PathBuf;
use std::process::ExitCode;

/// What to do.
#[derive(clap::Subcommand)]
pub enum ModelsAction {
    /// Validate an ONNX model on sample frames and store it under `_itscam/models/NAME/VERSION/`
    /// (stage `development`). Re-registering a version with other bytes is refused.
    Register {
        /// The ONNX file.
        file: PathBuf,
        /// Registry name.
        #[arg(long)]
        name: String,
        /// Semantic version (MAJOR.MINOR.PATCH).
        #[arg(long)]
        version: String,
        /// Output layout: centernet or yolo.
        #[arg(long, default_value = "centernet")]
        family: String,
        /// Model input size WxH (default 512x512).
        #[arg(long)]
        input_size: Option<String>,
        /// Free text kept in the manifest.
        #[arg(long)]
        notes: Option<String>,
        /// Video whose first frames validate it (default: [models] validation_video, .assets/vtest.avi).
        #[arg(long)]
        video: Option<PathBuf>,
        /// Frames of it to run (default: [models] validation_frames, 40).
        #[arg(long)]
        frames: Option<usize>,
    },
    /// List every version with its stage.
    List,
    /// A version's manifest, validation report and stage history (NAME@VERSION).
    Show {
        /// NAME@VERSION.
        id: String,
    },
    /// Move a version to a stage: staging, canary or production (the old production is
    /// retired, the old canary goes back to staging).
    Promote {
        /// NAME@VERSION.
        id: String,
        /// staging, canary or production.
        stage: String,
    },
    /// Retire a version (not the production one: promote another first).
    Retire {
        /// NAME@VERSION.
        id: String,
    },
    /// Return NAME's production to the version that was production before.
    Rollback {
        /// Registry name.
        name: String,
    },
}

/// Runs a `models` command on `lake` (else the config's `[lake] url`).
pub fn run_on(lake: Option<String>, config: &PipelineConfig, action: ModelsAction) -> anyhow::Result<ExitCode> {
    let lake = itscam_sinks::Lake::open_with(lake.as_deref().unwrap_or(&config.lake.url), &config.lake.s3)?;
    run(Registry::new(lake, &config.models.cache_dir), config, action)
}

/// Runs a `models` command on `registry`.
pub fn run(registry: Registry, config: &PipelineConfig, action: ModelsAction) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let audit = Audit::new(registry.lake().clone());
        let (what, detail) = act(&registry, config, action).await?;
        if let Some(what) = what {
            audit.record(AuditRow::of_command(&what, Some(detail), "ok"));
            audit.flush().await?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn who() -> String {
    std::env::var("USER").map(|u| format!("cli:{u}")).unwrap_or_else(|_| "cli".into())
}

fn parse_size(text: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = text.split_once('x').ok_or_else(|| anyhow::anyhow!("--input-size {text:?}: expected WxH, such as 512x512"))?;
    Ok((w.parse()?, h.parse()?))
}

async fn act(registry: &Registry, config: &PipelineConfig, action: ModelsAction) -> anyhow::Result<(Option<String>, String)> {
    Ok(match action {
        ModelsAction::Register { file, name, version, family, input_size, notes, video, frames } => {
            let family: ModelFamily = serde_json::from_value(serde_json::Value::String(family.clone())).map_err(|_| anyhow::anyhow!("unknown family {family:?}: expected centernet or yolo"))?;
            let input = input_size.as_deref().map(parse_size).transpose()?;
            let video = video.unwrap_or_else(|| config.models.validation_video.clone().into());
            let frames = frames.unwrap_or(config.models.validation_frames);
            let reg = Registration { file, name, version, family, input, notes, who: who(), video, frames, base: config.model.clone() };
            let (m, stored) = register(registry, reg).await?;
            let v = &m.validation;
            match stored {
                Stored::New => println!("registered {} (sha256 {}, {} bytes), stage development", m.id(), m.sha256, m.size),
                Stored::Same => println!("{} is already registered with these bytes; nothing changed", m.id()),
            }
            println!("validation: {} — {} frames at {:.1} frames/s, {:.2} detections/frame", if v.passed { "passed" } else { "FAILED" }, v.frames, v.frames_per_s, v.detections_per_frame);
            if let (Some(with), Some(a)) = (&v.compared_with, v.agreement) {
                println!("agreement with {with}: {a:.3}");
            }
            if let Some(reason) = &v.reason {
                println!("reason: {reason}");
            }
            (Some("models register".into()), m.id())
        }
        ModelsAction::List => {
            let stages = registry.stages().await?;
            println!("{:<28} {:<12} {:>10} {:>9} {:>8}  sha256", "model", "stage", "validated", "frames/s", "det/fr");
            for m in registry.manifests().await? {
                let stage = stages.stage(&m.id()).map_or("?", Stage::name);
                let v = &m.validation;
                println!("{:<28} {:<12} {:>10} {:>9.1} {:>8.2}  {}", m.id(), stage, if v.passed { "yes" } else { "no" }, v.frames_per_s, v.detections_per_frame, &m.sha256[..12]);
            }
            (None, String::new())
        }
        ModelsAction::Show { id } => {
            let m = registry.require(&id).await?;
            let stages = registry.stages().await?;
            let out = serde_json::json!({ "manifest": m, "stage": stages.stage(&id), "history": stages.history(&id) });
            println!("{}", serde_json::to_string_pretty(&out)?);
            (None, String::new())
        }
        ModelsAction::Promote { id, stage } => {
            let to = Stage::parse(&stage).ok_or_else(|| anyhow::anyhow!("unknown stage {stage:?}: expected staging, canary or production"))?;
            for e in registry.promote(&who(), &id, to).await? {
                println!("{}: {} (control log seq {})", e.id, e.after.as_ref().and_then(|a| a.get("stage")).and_then(|s| s.as_str()).unwrap_or("?"), e.seq);
            }
            (Some("models promote".into()), format!("{id} {stage}"))
        }
        ModelsAction::Retire { id } => {
            registry.promote(&who(), &id, Stage::Retired).await?;
            println!("{id}: retired");
            (Some("models retire".into()), id)
        }
        ModelsAction::Rollback { name } => {
            let entries = registry.rollback(&who(), &name).await?;
            let back = entries.last().map(|e| e.id.clone()).unwrap_or_default();
            println!("{name}: production is {back} again");
            (Some("models rollback".into()), back)
        }
    })
}
