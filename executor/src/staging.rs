//! The staging bucket: federated inputs are extracted into it as Parquet and the engine
//! computes over the staged files. A local folder or an S3 bucket, both through
//! `object_store`, built from one `buckets.yml` entry by
//! [`Staging::from_bucket`](crate::staging::Staging::from_bucket) in the client and in
//! every executor alike.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dvt_core::compute::{BucketConfig, BucketKind};
use dvt_core::dialect::Relation;
use dvt_core::secret::Secret;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use serde::Serialize;

use crate::error::{Error, Result};

/// How many staged objects a warning about kept extracts names; the rest are counted.
pub const NAMED_OBJECTS: usize = 20;

/// A staging bucket. Extracts live at
/// `<root>/<run_id>/<target>.<schema>.<identifier>/part-0-<hash>.parquet`, where `<hash>`
/// identifies the query execution and the SQL pushed to the source, so extracts never
/// collide. Nothing is deleted automatically: see [`Staging::finish_run`].
#[derive(Clone)]
pub struct Staging {
    place: Place,
    store: Arc<dyn ObjectStore>,
}

#[derive(Debug, Clone)]
enum Place {
    Folder(PathBuf),
    /// `s3://bucket` or `s3://bucket/prefix`, without a trailing `/`.
    Bucket(String),
}

// By hand: the store's own `Debug` would print the S3 client's configuration.
impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staging")
            .field("location", &self.location())
            .finish_non_exhaustive()
    }
}

impl Staging {
    /// A bucket in a local folder (created if missing), such as `<project>/.dvt/staging`.
    pub fn local(root: PathBuf) -> Result<Self> {
        let location = root.display().to_string();
        create_private_dir(&root).map_err(|e| Error::staging(&location, e))?;
        let store =
            LocalFileSystem::new_with_prefix(&root).map_err(|e| Error::staging(&location, e))?;
        Ok(Staging {
            place: Place::Folder(root),
            store: Arc::new(store),
        })
    }

    /// The bucket `buckets.yml` defines: a folder, or an S3 bucket whose credentials are
    /// the entry's keys, else the environment's (`AWS_*`, instance or pod identity).
    /// `gcs` and `azure` buckets are DVT306. Nothing is contacted yet.
    pub fn from_bucket(bucket: &BucketConfig) -> Result<Self> {
        match &bucket.kind {
            BucketKind::Filesystem { path } => Staging::local(path.clone()),
            BucketKind::S3 {
                bucket: name,
                prefix,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
                session_token,
                allow_http,
                path_style,
            } => {
                let url = match prefix.as_str() {
                    "" => format!("s3://{name}"),
                    p => format!("s3://{name}/{p}"),
                };
                let keys = match (access_key_id, secret_access_key) {
                    (Some(id), Some(secret)) => Some((id, secret, session_token.as_ref())),
                    _ => None,
                };
                let s3 = s3_builder(
                    name,
                    endpoint.as_deref(),
                    region.as_deref(),
                    keys,
                    *allow_http,
                    *path_style,
                )
                .build()
                .map_err(|e| Error::staging(&url, e))?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                };
                Ok(Staging {
                    place: Place::Bucket(url),
                    store,
                })
            }
            other => Err(Error::UnsupportedBucket {
                bucket: bucket.name.clone(),
                kind: other.type_name(),
            }),
        }
    }

    /// The bucket's folder, for a `filesystem` bucket.
    pub fn folder(&self) -> Option<&Path> {
        match &self.place {
            Place::Folder(root) => Some(root),
            Place::Bucket(_) => None,
        }
    }

    /// Where the bucket is, as users read it: a folder, or `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        match &self.place {
            Place::Folder(root) => root.display().to_string(),
            Place::Bucket(url) => url.clone(),
        }
    }

    /// The object store the bucket is reached through; paths are relative to the
    /// bucket's root (its `prefix` included).
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
        match &self.place {
            Place::Folder(root) => root.join(run_id).display().to_string(),
            Place::Bucket(url) => format!("{url}/{run_id}/"),
        }
    }

    /// Where one object of the bucket is, as users read it.
    pub fn object_location(&self, path: &ObjectPath) -> String {
        match &self.place {
            Place::Folder(root) => root.join(path.as_ref()).display().to_string(),
            Place::Bucket(url) => format!("{url}/{path}"),
        }
    }

    /// Every object a run staged, sorted, relative to the bucket.
    pub async fn run_objects(&self, run_id: &str) -> Result<Vec<ObjectPath>> {
        let mut objects: Vec<ObjectPath> = self
            .store
            .list(Some(&ObjectPath::from(run_id)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| Error::staging(self.run_location(run_id), e))?;
        objects.sort();
        Ok(objects)
    }

    /// Deletes everything a run staged, and only that: an object store has no folders,
    /// so the run's objects are listed under its prefix and deleted in batches.
    pub async fn remove_run(&self, run_id: &str) -> Result<()> {
        match &self.place {
            Place::Folder(root) => {
                let dir = root.join(run_id);
                match tokio::fs::remove_dir_all(&dir).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::staging(dir.display().to_string(), e)),
                }
            }
            Place::Bucket(_) => {
                let listed = self
                    .store
                    .list(Some(&ObjectPath::from(run_id)))
                    .map_ok(|meta| meta.location)
                    .boxed();
                self.store
                    .delete_stream(listed)
                    .try_for_each(|_| futures::future::ready(Ok(())))
                    .await
                    .or_else(|e| match e {
                        // Deleted by someone else meanwhile: gone all the same.
                        object_store::Error::NotFound { .. } => Ok(()),
                        e => Err(Error::staging(self.run_location(run_id), e)),
                    })
            }
        }
    }

    /// Ends a run's use of the bucket: a run that succeeded has its extracts removed; a
    /// run that failed keeps them for inspection (they are what its sources returned),
    /// as does `keep`. Returns what was kept, for the caller to report.
    pub async fn finish_run(
        &self,
        run_id: &str,
        succeeded: bool,
        keep: bool,
    ) -> Option<KeptStaging> {
        let location = self.run_location(run_id);
        if keep {
            return Some(KeptStaging {
                reason: KeptReason::Requested,
                location,
                objects: Vec::new(),
                total: 0,
            });
        }
        if !succeeded {
            match self.run_objects(run_id).await {
                // Nothing staged: only empty folders to tidy, nothing to inspect.
                Ok(objects) if objects.is_empty() => {}
                Ok(objects) => {
                    return Some(KeptStaging {
                        reason: KeptReason::RunFailed,
                        location,
                        total: objects.len(),
                        objects: objects
                            .iter()
                            .take(NAMED_OBJECTS)
                            .map(|o| self.object_location(o))
                            .collect(),
                    });
                }
                Err(e) => {
                    return Some(KeptStaging {
                        reason: KeptReason::NotListed(e.to_string()),
                        location,
                        objects: Vec::new(),
                        total: 0,
                    });
                }
            }
        }
        match self.remove_run(run_id).await {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not remove the run's staged extracts");
                Some(KeptStaging {
                    reason: KeptReason::NotRemoved(e.to_string()),
                    location,
                    objects: Vec::new(),
                    total: 0,
                })
            }
        }
    }

    /// Writes and deletes a small object, to check the bucket is reachable and writable.
    pub async fn probe(&self) -> Result<()> {
        let path = ObjectPath::from(format!(".dvt-probe-{}", std::process::id()));
        let fail = |e: object_store::Error| Error::staging(self.object_location(&path), e);
        self.store.put(&path, "probe".into()).await.map_err(fail)?;
        self.store.delete(&path).await.map_err(fail)
    }
}

/// Staged extracts a run left in its bucket, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KeptStaging {
    /// Why they were kept.
    pub reason: KeptReason,
    /// The run's folder or prefix, as [`Staging::run_location`] gives it.
    pub location: String,
    /// The first [`NAMED_OBJECTS`] objects, as [`Staging::object_location`] gives them;
    /// filled only for [`KeptReason::RunFailed`].
    pub objects: Vec<String>,
    /// How many objects the run left; filled only for [`KeptReason::RunFailed`].
    pub total: usize,
}

/// Why a run's staged extracts stayed in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum KeptReason {
    /// `--keep-staging`.
    Requested,
    /// A node failed or the run was cancelled: the extracts are kept for inspection.
    RunFailed,
    /// The run failed and listing what it staged failed too (the error's message).
    NotListed(String),
    /// Removing them failed (the error's message).
    NotRemoved(String),
}

impl KeptStaging {
    /// The warning (DVT005) users read, or `None` when they asked to keep the extracts.
    pub fn warning(&self) -> Option<String> {
        let location = &self.location;
        match &self.reason {
            KeptReason::Requested => None,
            KeptReason::RunFailed => {
                let mut text = format!(
                    "the run failed, so its {} staged object{} stay in `{location}` for inspection; delete them when done:",
                    self.total,
                    if self.total == 1 { "" } else { "s" }
                );
                for o in &self.objects {
                    text.push_str(&format!("\n  {o}"));
                }
                if self.total > self.objects.len() {
                    text.push_str(&format!("\n  and {} more", self.total - self.objects.len()));
                }
                Some(text)
            }
            KeptReason::NotListed(e) => Some(format!(
                "the run failed, so its staged extracts stay in `{location}` for inspection (listing them failed: {e}); delete them when done"
            )),
            KeptReason::NotRemoved(e) => Some(format!(
                "could not remove the run's staged extracts in `{location}`: {e}; delete them by hand"
            )),
        }
    }
}

/// The S3 client of a bucket. Settings `buckets.yml` leaves out come from the
/// environment (`AWS_REGION`, `AWS_ENDPOINT`, ...), as `object_store`'s `from_env` reads
/// them; when the file gives keys, the environment's credentials are ignored entirely,
/// so a stray `AWS_SESSION_TOKEN` never pairs with another account's keys.
fn s3_builder(
    bucket: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
    keys: Option<(&Secret, &Secret, Option<&Secret>)>,
    allow_http: bool,
    path_style: bool,
) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::new();
    for (key, value) in std::env::vars_os() {
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
            continue;
        };
        let Some(name) = key.strip_prefix("AWS_") else {
            continue;
        };
        let Ok(config_key) =
            format!("aws_{}", name.to_ascii_lowercase()).parse::<AmazonS3ConfigKey>()
        else {
            continue;
        };
        let credential = matches!(
            config_key,
            AmazonS3ConfigKey::AccessKeyId
                | AmazonS3ConfigKey::SecretAccessKey
                | AmazonS3ConfigKey::Token
        );
        if !(credential && keys.is_some()) {
            builder = builder.with_config(config_key, value);
        }
    }
    builder = builder
        .with_bucket_name(bucket)
        .with_allow_http(allow_http)
        .with_virtual_hosted_style_request(!path_style);
    if let Some(endpoint) = endpoint {
        // object_store takes a virtual-hosted endpoint to name the bucket already.
        let endpoint = if path_style {
            endpoint.to_owned()
        } else {
            match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{bucket}.{host}"),
                None => endpoint.to_owned(),
            }
        };
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = region {
        builder = builder.with_region(region);
    }
    if let Some((id, secret, token)) = keys {
        builder = builder
            .with_access_key_id(id.expose())
            .with_secret_access_key(secret.expose());
        if let Some(token) = token {
            builder = builder.with_token(token.expose());
        }
    }
    builder
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_bucket(name: &str, prefix: &str, secret: &str) -> BucketConfig {
        BucketConfig {
            name: name.into(),
            shared: true,
            kind: BucketKind::S3 {
                bucket: "b".into(),
                prefix: prefix.into(),
                endpoint: Some("http://127.0.0.1:9".into()),
                region: None,
                access_key_id: Some(Secret::new("id")),
                secret_access_key: Some(Secret::new(secret)),
                session_token: None,
                allow_http: true,
                path_style: true,
            },
            location: None,
        }
    }

    #[test]
    fn an_s3_bucket_is_named_by_its_url_and_never_shows_its_keys() {
        let staging = Staging::from_bucket(&s3_bucket("s", "a/b", "pa55-w0rd")).expect("s3");
        assert_eq!(staging.location(), "s3://b/a/b");
        assert_eq!(staging.run_location("r1"), "s3://b/a/b/r1/");
        assert_eq!(
            staging.object_location(&ObjectPath::from("r1/x.parquet")),
            "s3://b/a/b/r1/x.parquet"
        );
        assert!(staging.folder().is_none());
        assert!(!format!("{staging:?}").contains("pa55-w0rd"), "{staging:?}");
        let root = Staging::from_bucket(&s3_bucket("s", "", "k")).expect("s3");
        assert_eq!(root.run_location("r1"), "s3://b/r1/");
    }

    #[test]
    fn virtual_hosted_requests_put_the_bucket_in_the_endpoints_host() {
        let get = |b: &AmazonS3Builder, key| b.get_config_value(&key).unwrap_or_default();
        let hosted = s3_builder("b", Some("https://h:9"), None, None, false, false);
        assert_eq!(get(&hosted, AmazonS3ConfigKey::Endpoint), "https://b.h:9");
        assert_eq!(
            get(&hosted, AmazonS3ConfigKey::VirtualHostedStyleRequest),
            "true"
        );
        let path = s3_builder("b", Some("http://h:9"), Some("r"), None, true, true);
        assert_eq!(get(&path, AmazonS3ConfigKey::Endpoint), "http://h:9");
        assert_eq!(
            get(&path, AmazonS3ConfigKey::VirtualHostedStyleRequest),
            "false"
        );
        assert_eq!(get(&path, AmazonS3ConfigKey::Region), "r");
        let (id, secret) = (Secret::new("id"), Secret::new("key"));
        let keyed = s3_builder("b", None, None, Some((&id, &secret, None)), false, false);
        assert_eq!(get(&keyed, AmazonS3ConfigKey::AccessKeyId), "id");
        assert_eq!(get(&keyed, AmazonS3ConfigKey::Token), "");
    }

    #[test]
    fn gcs_and_azure_buckets_are_refused_naming_the_bucket() {
        let gcs = BucketConfig {
            name: "lake".into(),
            shared: true,
            kind: BucketKind::Gcs {
                bucket: "g".into(),
                prefix: String::new(),
                service_account_path: None,
                service_account_key: None,
            },
            location: None,
        };
        let err = Staging::from_bucket(&gcs).expect_err("gcs does not stage yet");
        assert_eq!(err.code(), "DVT306");
        assert!(err.to_string().contains("bucket `lake`"), "{err}");
        assert!(err.to_string().contains("`gcs`"), "{err}");
    }

    #[test]
    fn the_warning_names_the_first_objects_and_counts_the_rest() {
        let kept = KeptStaging {
            reason: KeptReason::RunFailed,
            location: "s3://b/r/".into(),
            objects: (0..NAMED_OBJECTS)
                .map(|i| format!("s3://b/r/{i}"))
                .collect(),
            total: NAMED_OBJECTS + 5,
        };
        let text = kept.warning().expect("a failed run warns");
        assert!(
            text.starts_with("the run failed, so its 25 staged objects stay in `s3://b/r/`"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1 + NAMED_OBJECTS + 1, "{text}");
        assert!(text.ends_with("\n  s3://b/r/19\n  and 5 more"), "{text}");
        let asked = KeptStaging {
            reason: KeptReason::Requested,
            ..kept
        };
        assert_eq!(asked.warning(), None);
    }

    #[tokio::test]
    async fn a_run_keeps_its_extracts_exactly_when_it_fails_or_is_asked_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staging = Staging::local(dir.path().join("staging")).expect("staging");
        let store = staging.store();
        for key in [
            "ok/t/part-0.parquet",
            "bad/t/part-0.parquet",
            "bad/u/part-0.parquet",
        ] {
            store
                .put(&ObjectPath::from(key), "x".into())
                .await
                .expect("put");
        }
        assert_eq!(staging.finish_run("ok", true, false).await, None);
        assert!(!dir.path().join("staging/ok").exists());

        let kept = staging
            .finish_run("bad", false, false)
            .await
            .expect("a failed run keeps its extracts");
        assert_eq!(kept.reason, KeptReason::RunFailed);
        assert_eq!(kept.total, 2);
        let folder = dir.path().join("staging");
        assert_eq!(
            kept.objects,
            [
                folder.join("bad/t/part-0.parquet").display().to_string(),
                folder.join("bad/u/part-0.parquet").display().to_string(),
            ]
        );
        assert!(folder.join("bad/u/part-0.parquet").exists());

        // A failed run that staged nothing has nothing to keep.
        assert_eq!(staging.finish_run("none", false, false).await, None);
        let asked = staging.finish_run("bad", true, true).await.expect("kept");
        assert_eq!(asked.reason, KeptReason::Requested);
        assert!(folder.join("bad/u/part-0.parquet").exists());
    }
}
