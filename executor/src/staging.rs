//! The staging bucket: federated inputs are extracted into it as Parquet and the engine
//! computes over the staged files. For now a local folder through `object_store`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dvt_core::dialect::Relation;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;

use crate::error::{Error, Result};

/// A staging bucket. Extracts live at
/// `<root>/<run_id>/<target>.<schema>.<identifier>/part-0-<hash>.parquet`, where `<hash>`
/// identifies the query execution and the SQL pushed to the source, so extracts never
/// collide. Nothing is deleted automatically: see [`Staging::remove_run`].
#[derive(Debug, Clone)]
pub struct Staging {
    root: PathBuf,
    store: Arc<dyn ObjectStore>,
}

impl Staging {
    /// A bucket in a local folder (created if missing), such as `<project>/.dvt/staging`.
    pub fn local(root: PathBuf) -> Result<Self> {
        let location = root.display().to_string();
        create_private_dir(&root).map_err(|e| Error::staging(&location, e))?;
        let store =
            LocalFileSystem::new_with_prefix(&root).map_err(|e| Error::staging(&location, e))?;
        Ok(Staging {
            root,
            store: Arc::new(store),
        })
    }

    /// The bucket's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object store the bucket is reached through.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// The folder of one input of one run, relative to the bucket.
    pub fn input_prefix(run_id: &str, target: &str, relation: &Relation) -> ObjectPath {
        ObjectPath::from_iter([
            run_id.to_owned(),
            format!("{target}.{}.{}", relation.schema, relation.identifier),
        ])
    }

    /// Where a run's extracts are, as users read it.
    pub fn run_location(&self, run_id: &str) -> String {
        self.root.join(run_id).display().to_string()
    }

    /// Deletes everything a run staged.
    pub async fn remove_run(&self, run_id: &str) -> Result<()> {
        let dir = self.root.join(run_id);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::staging(dir.display().to_string(), e)),
        }
    }
}

/// Creates `dir` (and its parents) readable by its owner only: staged extracts are source
/// data, often more than the destination's readers may see.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        // An existing folder keeps its mode through `create`: tighten it too.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}
