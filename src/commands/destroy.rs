//! `tyk-dr destroy`: delete every resource tagged with this project, in reverse dependency
//! order, after confirmation. Zones found without our tags are left alone.

use super::CommandContext;
use crate::cli::DestroyArgs;
use crate::error::Error;
use crate::plan::{self, clients::Clients};

/// Runs `destroy`.
pub fn run(ctx: &CommandContext, args: &DestroyArgs) -> Result<u8, Error> {
    let loaded = ctx.load_config()?;
    let cfg = &loaded.config;
    let state_dir = crate::state_dir::or_base(args.state_dir.as_deref(), &ctx.config_path);
    crate::runtime()?.block_on(async {
        let clients = Clients::new(cfg).await;
        let (plan, world) = plan::compute(cfg, &clients, &[]).await?;
        super::apply::execute(
            ctx,
            cfg,
            &clients,
            (plan, world),
            &state_dir,
            args.yes,
            "destroy",
        )
        .await
    })
}
