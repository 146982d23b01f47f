//! The installer on every kind of entry, and the `packages_local` fixture against what
//! dbt-core compiled for it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::*;
use crate::manifest::{LoadOptions, Manifest, ResourceType};
use crate::profile::ProfileLookup;

/// Writes `files` (path relative to `dir`, text) under `dir`.
fn write(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("a file has a folder")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(project: &Path, vars: &str) -> Result<Manifest> {
    Manifest::load(&LoadOptions {
        project_dir: project.to_path_buf(),
        profiles: ProfileLookup::default(),
        target: None,
        vars: crate::profile::parse_cli_vars(vars)?,
    })
}

const PROFILES: &str = "p:\n  target: pg\n  outputs:\n    pg: {type: postgres, host: h, user: u, dbname: d, schema: analytics}\n";

/// A root project `root/` listing `packages` (the text of `packages.yml`), beside
/// a folder per package of `pkgs` ((folder, files)).
fn workspace(packages: &str, pkgs: &[(&str, &[(&str, &str)])]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    write(
        &root,
        &[
            ("dbt_project.yml", "name: root\nprofile: p\n"),
            ("profiles.yml", PROFILES),
            ("packages.yml", packages),
        ],
    );
    for (folder, files) in pkgs {
        write(&tmp.path().join(folder), files);
    }
    (tmp, root)
}

// ---------------------------------------------------------------------------------
// The installer

#[test]
fn local_packages_install_replace_their_old_copy_and_are_locked() {
    let (tmp, root) = workspace(
        "packages:\n  - local: ../utils\n",
        &[(
            "utils",
            &[
                ("dbt_project.yml", "name: my_utils\n"),
                ("macros/m.sql", "{% macro one() %}1{% endmacro %}"),
                ("target/junk.sql", "build output"),
            ],
        )],
    );
    let installed = install(&root).expect("installs");
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].name, "my_utils");
    assert_eq!(installed[0].path, Path::new("dbt_packages/my_utils"));
    assert_eq!(
        installed[0].source,
        PackageSource::Local {
            path: "../utils".into()
        }
    );
    assert_eq!(installed[0].required_by, None);
    let pkg = root.join("dbt_packages/my_utils");
    assert_eq!(
        read(&pkg.join("macros/m.sql")),
        "{% macro one() %}1{% endmacro %}"
    );
    assert!(
        !pkg.join("target").exists(),
        "a package's build output is not copied"
    );
    let lock = read(&root.join(LOCK_FILE));
    assert!(
        lock.starts_with("packages:\n  - local: \"../utils\"\n    name: \"my_utils\"\nsha1_hash: "),
        "{lock}"
    );
    // Changed at its source: a second install replaces the copy, dropping removed files.
    std::fs::remove_file(tmp.path().join("utils/macros/m.sql")).expect("rm");
    write(
        &tmp.path().join("utils"),
        &[("macros/two.sql", "{% macro two() %}2{% endmacro %}")],
    );
    install(&root).expect("installs again");
    assert!(!pkg.join("macros/m.sql").exists());
    assert!(pkg.join("macros/two.sql").is_file());
    // Nothing but the package is left in the install folder (no staging folder).
    let entries: Vec<String> = std::fs::read_dir(root.join("dbt_packages"))
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["my_utils"]);
    // `dvt clean` removes `clean-targets:` (by default only the target path).
    std::fs::create_dir_all(root.join("target/compiled")).expect("target");
    assert_eq!(clean(&root, true).expect("cleans"), [root.join("target")]);
    assert!(root.join("dbt_packages").exists());
    std::fs::write(
        root.join("dbt_project.yml"),
        "name: root\nprofile: p\nclean-targets: [target, dbt_packages, logs]\n",
    )
    .expect("project");
    assert_eq!(
        clean(&root, true).expect("cleans"),
        [root.join("dbt_packages")]
    );
    assert!(!root.join("dbt_packages").exists());
    assert!(clean(&root, true).expect("nothing to clean").is_empty());
    // A folder outside the project is refused unless asked for.
    std::fs::create_dir_all(tmp.path().join("elsewhere")).expect("outside");
    std::fs::write(
        root.join("dbt_project.yml"),
        "name: root\nprofile: p\nclean-targets: [../elsewhere]\n",
    )
    .expect("project");
    let err = clean(&root, true).unwrap_err();
    assert_eq!(err.code(), "DVT115", "{err}");
    assert!(tmp.path().join("elsewhere").exists());
    assert_eq!(
        clean(&root, false).expect("cleans outside").len(),
        1,
        "removed when asked"
    );
    assert!(!tmp.path().join("elsewhere").exists());
}

#[test]
fn entries_render_env_var_and_dependencies_yml_is_read() {
    let (_tmp, root) = workspace("", &[("utils", &[("dbt_project.yml", "name: utils\n")])]);
    std::fs::remove_file(root.join("packages.yml")).expect("rm");
    write(
        &root,
        &[(
            "dependencies.yml",
            "packages:\n  - local: \"{{ env_var('DVT_TEST_SURELY_UNSET_PKG', '../utils') }}\"\n",
        )],
    );
    let installed = install(&root).expect("installs");
    assert_eq!(installed[0].name, "utils");
    assert!(root.join("dbt_packages/utils/dbt_project.yml").is_file());
    // Packages in both files are refused, at the second.
    write(
        &root,
        &[("packages.yml", "packages:\n  - local: ../utils\n")],
    );
    let err = install(&root).expect_err("two lists");
    assert_eq!(err.code(), "DVT125");
    assert!(
        err.to_string().starts_with("dependencies.yml:2:3: "),
        "{err}"
    );
}

#[test]
fn a_package_folder_holding_the_root_project_is_copied_without_it_staging() {
    // `root/` is inside the package `outer/`: the copy must not chase itself.
    let tmp = tempfile::tempdir().expect("tempdir");
    let outer = tmp.path().join("outer");
    write(
        &outer,
        &[
            ("dbt_project.yml", "name: outer\n"),
            ("macros/o.sql", "{% macro o() %}o{% endmacro %}"),
            ("root/dbt_project.yml", "name: root\nprofile: p\n"),
            ("root/packages.yml", "packages:\n  - local: ..\n"),
        ],
    );
    let root = outer.join("root");
    let installed = install(&root).expect("installs");
    assert_eq!(installed[0].name, "outer");
    let pkg = root.join("dbt_packages/outer");
    assert!(pkg.join("macros/o.sql").is_file());
    assert!(pkg.join("root/dbt_project.yml").is_file());
    assert!(
        !pkg.join("root/dbt_packages").exists(),
        "neither the install folder nor its staging folder is copied"
    );
}

#[test]
fn transitive_packages_install_once_each() {
    let (_tmp, root) = workspace(
        "packages:\n  - local: ../a\n  - local: ../b\n",
        &[
            (
                "a",
                &[
                    ("dbt_project.yml", "name: a\n"),
                    // dbt resolves a package's own `local:` against the root project.
                    ("packages.yml", "packages:\n  - local: ../b\n"),
                ],
            ),
            ("b", &[("dbt_project.yml", "name: b\n")]),
        ],
    );
    let installed = install(&root).expect("installs");
    let got: Vec<(&str, Option<&str>)> = installed
        .iter()
        .map(|p| (p.name.as_str(), p.required_by.as_deref()))
        .collect();
    assert_eq!(got, [("a", None), ("b", Some("a"))]);
    assert!(root.join("dbt_packages/a/dbt_project.yml").is_file());
    assert!(root.join("dbt_packages/b/dbt_project.yml").is_file());
    let lock = read(&root.join(LOCK_FILE));
    assert_eq!(lock.matches("  - local: ").count(), 2, "{lock}");
}

#[test]
fn a_cycle_between_packages_is_refused_and_nothing_changes() {
    let (_tmp, root) = workspace(
        "packages:\n  - local: ../a\n",
        &[
            (
                "a",
                &[
                    ("dbt_project.yml", "name: a\n"),
                    ("packages.yml", "packages:\n  - local: ../b\n"),
                ],
            ),
            (
                "b",
                &[
                    ("dbt_project.yml", "name: b\n"),
                    ("packages.yml", "packages:\n  - local: ../a\n"),
                ],
            ),
        ],
    );
    let err = install(&root).expect_err("a cycle");
    assert_eq!(err.code(), "DVT129");
    assert!(
        err.to_string().starts_with(
            "../b/packages.yml:2:5: packages depend on each other in a cycle: root -> a -> b -> a"
        ),
        "{err}"
    );
    assert!(!root.join("dbt_packages/a").exists());
    // A package listing the root project closes a cycle too.
    write(&root, &[("packages.yml", "packages:\n  - local: .\n")]);
    let err = install(&root).expect_err("the root itself");
    assert_eq!(err.code(), "DVT129");
    assert!(err.to_string().ends_with("cycle: root -> root"), "{err}");
}

#[test]
fn a_missing_path_fails_and_keeps_the_installed_packages() {
    let (_tmp, root) = workspace(
        "packages:\n  - local: ../a\n",
        &[("a", &[("dbt_project.yml", "name: a\n")])],
    );
    install(&root).expect("installs");
    write(
        &root,
        &[(
            "packages.yml",
            "packages:\n  - local: ../a\n  - local: ../nowhere\n",
        )],
    );
    let err = install(&root).expect_err("missing");
    assert_eq!(err.code(), "DVT128");
    let msg = err.to_string();
    assert!(
        msg.starts_with("packages.yml:3:5: cannot install local package `../nowhere`: "),
        "{msg}"
    );
    assert!(msg.contains("is not a folder"), "{msg}");
    assert!(root.join("dbt_packages/a/dbt_project.yml").is_file());
    // A folder without a project file is no package.
    write(
        &root,
        &[("packages.yml", "packages:\n  - local: profiles_only\n")],
    );
    write(&root.join("profiles_only"), &[("x.txt", "")]);
    let err = install(&root).expect_err("no project");
    assert_eq!(err.code(), "DVT128");
    assert!(
        err.to_string().ends_with("it has no `dbt_project.yml`"),
        "{err}"
    );
}

#[test]
fn hub_network_and_malformed_entries_fail_with_their_codes() {
    let (_tmp, root) = workspace("", &[]);
    assert_eq!(install(&root).expect("nothing to install"), []);
    assert!(!root.join("dbt_packages").exists() && !root.join(LOCK_FILE).exists());
    let cases: [(&str, &str, &str); 9] = [
        (
            "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.1.1\n",
            "DVT126",
            "packages.yml:2:5: package `dbt-labs/dbt_utils` comes from the dbt package hub, which DVT cannot reach",
        ),
        (
            "packages:\n  - git: https://github.com/dbt-labs/dbt-utils.git\n    revision: 1.1.1\n",
            "DVT127",
            "packages.yml:2:5: git package `https://github.com/dbt-labs/dbt-utils.git` is on the network, which DVT cannot reach (no network or package hub is reachable here)",
        ),
        (
            "packages:\n  - git: git@github.com:dbt-labs/dbt-utils.git\n",
            "DVT127",
            "packages.yml:2:5: git package `git@github.com:dbt-labs/dbt-utils.git` is on the network",
        ),
        (
            "packages:\n  - tarball: https://codeload.github.com/x/y/tar.gz/1.0\n    name: y\n",
            "DVT127",
            "packages.yml:2:5: tarball package `https://codeload.github.com/x/y/tar.gz/1.0` is on the network",
        ),
        (
            "packages:\n  - private: dbt-labs/internal\n",
            "DVT127",
            "packages.yml:2:5: private package",
        ),
        (
            "packages:\n  - local: ../a\n    revision: main\n",
            "DVT125",
            "packages.yml:3:5: invalid package entry: `revision` is not a key of a `local:` entry; expected `local`",
        ),
        (
            "packages:\n  - name: x\n",
            "DVT125",
            "packages.yml:2:5: invalid package entry: an entry needs one of `local`, `git`, `tarball` or `package`",
        ),
        (
            "packages:\n  - tarball: x.tar.gz\n",
            "DVT125",
            "packages.yml:2:5: invalid package entry: a `tarball:` entry needs `name:`",
        ),
        (
            "packages: {local: x}\n",
            "DVT125",
            "packages.yml:1:12: invalid package entry: `packages` must be a list of entries",
        ),
    ];
    for (text, code, start) in cases {
        write(&root, &[("packages.yml", text)]);
        let err = install(&root).expect_err(text);
        assert_eq!(err.code(), code, "{text}: {err}");
        assert!(err.to_string().starts_with(start), "{text}: {err}");
    }
    assert!(
        !root.join(LOCK_FILE).exists(),
        "nothing was installed, so nothing is locked"
    );
}

/// Runs git in `dir` with a fixed identity; panics with its output when it fails.
fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn git_repositories_on_disk_install_at_a_revision_and_subdirectory() {
    let (tmp, root) = workspace("", &[]);
    let repo = tmp.path().join("repo");
    write(
        &repo,
        &[
            ("pkg/dbt_project.yml", "name: from_git\n"),
            ("pkg/macros/v.sql", "{% macro v() %}1{% endmacro %}"),
            ("README.md", "not the package"),
        ],
    );
    git_in(&repo, &["init", "--quiet", "--initial-branch=main"]);
    git_in(&repo, &["add", "."]);
    git_in(&repo, &["commit", "--quiet", "-m", "v1"]);
    git_in(&repo, &["tag", "v1"]);
    let v1 = git_in(&repo, &["rev-parse", "HEAD"]);
    write(
        &repo,
        &[("pkg/macros/v.sql", "{% macro v() %}2{% endmacro %}")],
    );
    git_in(&repo, &["commit", "--quiet", "-am", "v2"]);
    let v2 = git_in(&repo, &["rev-parse", "HEAD"]);

    write(
        &root,
        &[(
            "packages.yml",
            &format!(
                "packages:\n  - git: \"file://{}\"\n    revision: v1\n    subdirectory: pkg\n",
                repo.display()
            ),
        )],
    );
    let installed = install(&root).expect("installs v1");
    assert_eq!(installed[0].name, "from_git");
    assert_eq!(installed[0].commit.as_deref(), Some(v1.as_str()));
    let pkg = root.join("dbt_packages/from_git");
    assert_eq!(
        read(&pkg.join("macros/v.sql")),
        "{% macro v() %}1{% endmacro %}"
    );
    assert!(!pkg.join("README.md").exists(), "only the subdirectory");
    assert!(!pkg.join(".git").exists());
    let lock = read(&root.join(LOCK_FILE));
    assert!(
        lock.contains(&format!("    revision: \"{v1}\"\n")),
        "{lock}"
    );
    assert!(lock.contains("    subdirectory: \"pkg\"\n"), "{lock}");

    // A plain path (relative to the project), the default branch.
    write(
        &root,
        &[(
            "packages.yml",
            "packages:\n  - git: ../repo\n    subdirectory: pkg\n",
        )],
    );
    let installed = install(&root).expect("installs main");
    assert_eq!(installed[0].commit.as_deref(), Some(v2.as_str()));
    assert_eq!(
        read(&pkg.join("macros/v.sql")),
        "{% macro v() %}2{% endmacro %}"
    );

    // An unknown revision names git's complaint.
    write(
        &root,
        &[(
            "packages.yml",
            "packages:\n  - git: ../repo\n    revision: no-such-tag\n",
        )],
    );
    let err = install(&root).expect_err("bad revision");
    assert_eq!(err.code(), "DVT128");
    assert!(
        err.to_string()
            .contains("`git checkout --quiet no-such-tag` failed"),
        "{err}"
    );
    // Still v2: the failed install changed nothing.
    assert_eq!(
        read(&pkg.join("macros/v.sql")),
        "{% macro v() %}2{% endmacro %}"
    );
}

/// A `.tar.gz` of `files` under the top folder `top`.
fn tarball(path: &Path, top: &str, files: &[(&str, &str)]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).expect("create"),
        flate2::Compression::default(),
    );
    let mut b = tar::Builder::new(gz);
    for (rel, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("{top}/{rel}"), text.as_bytes())
            .expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gzip");
}

#[test]
fn tarballs_install_from_their_top_folder() {
    let (tmp, root) = workspace("", &[]);
    let file = tmp.path().join("pkg-1.0.tar.gz");
    tarball(
        &file,
        "pkg-1.0",
        &[
            ("dbt_project.yml", "name: tar_pkg\n"),
            ("macros/t.sql", "{% macro t() %}t{% endmacro %}"),
        ],
    );
    write(
        &root,
        &[(
            "packages.yml",
            &format!(
                "packages:\n  - tarball: \"file://{}\"\n    name: tar_pkg\n",
                file.display()
            ),
        )],
    );
    let installed = install(&root).expect("installs");
    assert_eq!(installed[0].name, "tar_pkg");
    assert_eq!(
        read(&root.join("dbt_packages/tar_pkg/macros/t.sql")),
        "{% macro t() %}t{% endmacro %}"
    );
    // `name:` must be the project inside.
    write(
        &root,
        &[(
            "packages.yml",
            "packages:\n  - tarball: ../pkg-1.0.tar.gz\n    name: other\n",
        )],
    );
    let err = install(&root).expect_err("wrong name");
    assert_eq!(err.code(), "DVT128");
    assert!(
        err.to_string()
            .ends_with("it holds project `tar_pkg`, not `other` as `name:` says"),
        "{err}"
    );
    // Not a tarball at all.
    write(&root, &[("bad.tar.gz", "\u{1f}\u{8b}not gzip")]);
    write(
        &root,
        &[(
            "packages.yml",
            "packages:\n  - tarball: bad.tar.gz\n    name: x\n",
        )],
    );
    let err = install(&root).expect_err("garbage");
    assert_eq!(err.code(), "DVT128");
    assert!(
        err.to_string().contains("is not a readable tarball"),
        "{err}"
    );
}

#[test]
fn two_packages_of_one_name_from_different_places_are_refused() {
    let (_tmp, root) = workspace(
        "packages:\n  - local: ../a\n  - local: ../a_copy\n",
        &[
            ("a", &[("dbt_project.yml", "name: a\n")]),
            ("a_copy", &[("dbt_project.yml", "name: a\n")]),
        ],
    );
    let err = install(&root).expect_err("duplicate");
    assert_eq!(err.code(), "DVT131");
    assert!(
        err.to_string().starts_with(
            "packages.yml:3:5: package `a` is installed twice from different places: local package `../a` and local package `../a_copy`"
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------
// Loading packages: namespaces, dispatch, vars, refs, configs

/// A root project with an installed package `pkg` (written straight into
/// `dbt_packages/pkg`, as `dvt deps` leaves it).
fn project_with_package(
    root_files: &[(&str, &str)],
    pkg_files: &[(&str, &str)],
) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    write(&root, &[("profiles.yml", PROFILES)]);
    write(&root, root_files);
    write(&root.join("dbt_packages/pkg"), pkg_files);
    (tmp, root)
}

const PKG_PROJECT: (&str, &str) = (
    "dbt_project.yml",
    "name: pkg\nvars: {size: 5, other: pkg}\nmodels:\n  pkg:\n    +materialized: table\n",
);

#[test]
fn macros_resolve_by_the_rendered_nodes_package_and_through_namespaces() {
    let (_tmp, root) = project_with_package(
        &[
            ("dbt_project.yml", "name: root\nprofile: p\n"),
            (
                "macros/m.sql",
                "{% macro label() %}'root'{% endmacro %}\n{% macro root_only() %}'r'{% endmacro %}",
            ),
            (
                "models/r.sql",
                "select {{ label() }} as a, {{ pkg.label() }} as b, {{ pkg.calls_label() }} as c, {{ root.root_only() }} as d",
            ),
        ],
        &[
            PKG_PROJECT,
            (
                "macros/m.sql",
                "{% macro label() %}'pkg'{% endmacro %}\n{% macro calls_label() %}{{ label() }}{% endmacro %}\n{% macro pkg_only() %}'p'{% endmacro %}",
            ),
            (
                "models/p.sql",
                "select {{ label() }} as a, {{ calls_label() }} as c, {{ root_only() }} as d, {{ pkg_only() }} as e",
            ),
        ],
    );
    let m = load(&root, "").expect("loads");
    // A root node sees the root's `label`; the package's macro called through its
    // namespace still looks names up in the root node's namespace, as dbt does.
    assert_eq!(
        m.compile("model.root.r").expect("compiles").sql,
        "select 'root' as a, 'pkg' as b, 'root' as c, 'r' as d"
    );
    // A package node sees its own macros first, then the root project's.
    assert_eq!(
        m.compile("model.pkg.p").expect("compiles").sql,
        "select 'pkg' as a, 'pkg' as c, 'r' as d, 'p' as e"
    );
    // A package macro is not callable unqualified from the root project (dbt: undefined).
    let (_tmp, root) = project_with_package(
        &[
            ("dbt_project.yml", "name: root\nprofile: p\n"),
            ("models/r.sql", "select {{ pkg_only() }}"),
        ],
        &[
            PKG_PROJECT,
            ("macros/m.sql", "{% macro pkg_only() %}'p'{% endmacro %}"),
        ],
    );
    let err = load(&root, "").expect_err("undefined");
    assert_eq!(err.code(), "DVT109");
    assert!(err.to_string().starts_with("models/r.sql:1"), "{err}");
}

/// The package's dispatched macro and its implementations, plus a root override.
const DISPATCHING_PKG: (&str, &str) = (
    "macros/d.sql",
    "{% macro div(a, b) %}{{ return(adapter.dispatch('div', 'pkg')(a, b)) }}{% endmacro %}\n{% macro default__div(a, b) %}pkg_default({{ a }}, {{ b }}){% endmacro %}\n{% macro postgres__div(a, b) %}pkg_pg({{ a }}, {{ b }}){% endmacro %}",
);

fn dispatched(project_yml: &str, root_macros: &str) -> Result<String> {
    let (_tmp, root) = project_with_package(
        &[
            ("dbt_project.yml", project_yml),
            ("macros/o.sql", root_macros),
            ("models/r.sql", "select {{ pkg.div(1, 2) }}"),
        ],
        &[PKG_PROJECT, DISPATCHING_PKG],
    );
    Ok(load(&root, "")?.compile("model.root.r")?.sql)
}

#[test]
fn dispatch_follows_the_search_order_then_the_adapter_prefixes() {
    // Without `dispatch:`: the root project, then the namespace, each with
    // `postgres__` then `default__`.
    assert_eq!(
        dispatched("name: root\nprofile: p\n", "").expect("compiles"),
        "select pkg_pg(1, 2)"
    );
    assert_eq!(
        dispatched(
            "name: root\nprofile: p\n",
            "{% macro default__div(a, b) %}root_default{% endmacro %}"
        )
        .expect("compiles"),
        "select root_default",
        "the root project is searched first, whatever the prefix"
    );
    // `dispatch:` replaces the order: the package first here.
    let pkg_first = "name: root\nprofile: p\ndispatch:\n  - macro_namespace: pkg\n    search_order: [pkg, root]\n";
    assert_eq!(
        dispatched(
            pkg_first,
            "{% macro postgres__div(a, b) %}root_pg{% endmacro %}"
        )
        .expect("compiles"),
        "select pkg_pg(1, 2)"
    );
    let root_first = "name: root\nprofile: p\ndispatch:\n  - macro_namespace: pkg\n    search_order: [root, pkg]\n";
    assert_eq!(
        dispatched(
            root_first,
            "{% macro postgres__div(a, b) %}root_pg({{ a }}){% endmacro %}"
        )
        .expect("compiles"),
        "select root_pg(1)"
    );
    // An order naming only the root project finds nothing, and says where it looked.
    let root_only =
        "name: root\nprofile: p\ndispatch:\n  - macro_namespace: pkg\n    search_order: [root]\n";
    let err = dispatched(root_only, "").expect_err("nothing found");
    assert_eq!(err.code(), "DVT109");
    assert!(
        err.to_string().contains(
            "no macro `div` found within namespace `pkg`; searched for `root.postgres__div`, `root.default__div`"
        ),
        "{err}"
    );
}

#[test]
fn package_nodes_see_package_vars_under_the_root_projects_and_the_cli() {
    let root_files: &[(&str, &str)] = &[
        (
            "dbt_project.yml",
            "name: root\nprofile: p\nvars:\n  other: root_global\n  pkg:\n    size: 10\n",
        ),
        (
            "models/r.sql",
            "select '{{ var('other') }}' as o, {{ var('size', 0) }} as s",
        ),
    ];
    let pkg_files: &[(&str, &str)] = &[
        PKG_PROJECT,
        (
            "models/p.sql",
            "select '{{ var('other') }}' as o, {{ var('size') }} as s",
        ),
    ];
    let (_tmp, root) = project_with_package(root_files, pkg_files);
    let m = load(&root, "").expect("loads");
    assert_eq!(
        m.compile("model.pkg.p").expect("compiles").sql,
        "select 'root_global' as o, 10 as s"
    );
    // The root project's nodes do not see the package's scope.
    assert_eq!(
        m.compile("model.root.r").expect("compiles").sql,
        "select 'root_global' as o, 0 as s"
    );
    let m = load(&root, "{size: 99}").expect("loads");
    assert_eq!(
        m.compile("model.pkg.p").expect("compiles").sql,
        "select 'root_global' as o, 99 as s"
    );
}

#[test]
fn refs_search_the_root_project_the_own_package_then_any_package() {
    let (_tmp, root) = project_with_package(
        &[
            ("dbt_project.yml", "name: root\nprofile: p\n"),
            ("models/shared.sql", "select 'root' as x"),
            (
                "models/reader.sql",
                "select * from {{ ref('only_pkg') }} join {{ ref('pkg', 'shared') }}",
            ),
        ],
        &[
            PKG_PROJECT,
            ("models/shared.sql", "select 'pkg' as x"),
            ("models/only_pkg.sql", "select * from {{ ref('shared') }}"),
        ],
    );
    let m = load(&root, "").expect("loads");
    // dbt searches the root project before the caller's own package.
    assert_eq!(
        m.nodes["model.pkg.only_pkg"].depends_on,
        ["model.root.shared"]
    );
    assert_eq!(
        m.nodes["model.root.reader"].depends_on,
        ["model.pkg.only_pkg", "model.pkg.shared"]
    );
    assert_eq!(
        m.compile("model.root.reader").expect("compiles").sql,
        "select * from \"d\".\"analytics\".\"only_pkg\" join \"d\".\"analytics\".\"shared\""
    );
    // A qualified ref to a package that is not installed says so.
    write(
        &root,
        &[(
            "models/reader.sql",
            "select * from {{ ref('nope', 'shared') }}",
        )],
    );
    let err = load(&root, "").expect_err("unknown package");
    assert_eq!(err.code(), "DVT106");
    assert!(
        err.to_string()
            .contains("no installed package is named `nope` (run `dvt deps`?)"),
        "{err}"
    );
}

#[test]
fn an_unqualified_ref_matching_several_packages_is_ambiguous() {
    let (_tmp, root) = project_with_package(
        &[
            ("dbt_project.yml", "name: root\nprofile: p\n"),
            ("models/reader.sql", "select * from {{ ref('twin') }}"),
        ],
        &[PKG_PROJECT, ("models/twin.sql", "select 1 as x")],
    );
    write(
        &root.join("dbt_packages/pkg2"),
        &[
            ("dbt_project.yml", "name: pkg2\n"),
            ("models/twin.sql", "select 2 as x"),
        ],
    );
    let err = load(&root, "").expect_err("ambiguous");
    assert_eq!(err.code(), "DVT130");
    assert!(
        err.to_string().starts_with(
            "models/reader.sql: `ref('twin')` in `model.root.reader` is ambiguous: packages `pkg`, `pkg2`"
        ),
        "{err}"
    );
}

#[test]
fn root_folder_configs_override_the_packages_own_configs() {
    let (_tmp, root) = project_with_package(
        &[
            (
                "dbt_project.yml",
                "name: root\nprofile: p\nmodels:\n  +tags: [everywhere]\n  pkg:\n    +schema: utils\n    staging:\n      +materialized: ephemeral\n    off:\n      +enabled: false\n",
            ),
            (
                "models/r.sql",
                "select * from {{ ref('pkg', 'disabled_one') }}",
            ),
        ],
        &[
            PKG_PROJECT,
            (
                "models/staging/s.sql",
                "{{ config(materialized='view') }}select 1 as x",
            ),
            ("models/t.sql", "select 1 as x"),
            ("models/off/disabled_one.sql", "select 1 as x"),
        ],
    );
    let err = load(&root, "").expect_err("disabled");
    assert_eq!(err.code(), "DVT106");
    assert!(
        err.to_string()
            .contains("(dbt_packages/pkg/models/off/disabled_one.sql) is disabled"),
        "{err}"
    );
    std::fs::remove_file(root.join("models/r.sql")).expect("rm");
    let m = load(&root, "").expect("loads");
    let s = &m.nodes["model.pkg.s"];
    assert_eq!(s.materialized.as_str(), "ephemeral", "beats `config()`");
    assert_eq!(s.fqn, ["pkg", "staging", "s"]);
    assert_eq!(s.tags, ["everywhere"]);
    let t = &m.nodes["model.pkg.t"];
    assert_eq!(t.materialized.as_str(), "table", "the package's own config");
    assert_eq!(t.relation.schema, "analytics_utils");
    assert_eq!(
        t.original_file_path,
        Path::new("dbt_packages/pkg/models/t.sql")
    );
    assert_eq!(m.package_file_path(t), Path::new("models/t.sql"));
    assert_eq!(
        m.compiled_path("model.pkg.t"),
        Some(PathBuf::from("compiled/pkg/models/t.sql"))
    );
    assert!(!m.nodes.contains_key("model.pkg.disabled_one"));
}

#[test]
fn duplicates_in_a_package_and_missing_installs_are_errors() {
    let (_tmp, root) = project_with_package(
        &[("dbt_project.yml", "name: root\nprofile: p\n")],
        &[
            PKG_PROJECT,
            ("models/a/dup.sql", "select 1 as x"),
            ("models/b/dup.sql", "select 1 as x"),
        ],
    );
    let err = load(&root, "").expect_err("duplicate");
    assert_eq!(err.code(), "DVT114");
    assert!(
        err.to_string()
            .starts_with("dbt_packages/pkg/models/b/dup.sql: model `dup`"),
        "{err}"
    );
    write(
        &root,
        &[(
            "packages.yml",
            "packages:\n  - local: ../a\n  - local: ../b\n",
        )],
    );
    std::fs::remove_dir_all(root.join("dbt_packages")).expect("rm");
    let err = load(&root, "").expect_err("not installed");
    assert_eq!(err.code(), "DVT132");
    assert_eq!(
        err.to_string(),
        "packages.yml: 2 package(s) are specified but only 0 are installed in `dbt_packages`; run `dvt deps` to install them"
    );
}

// ---------------------------------------------------------------------------------
// The `packages_local` fixture, against dbt-core's goldens

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dbt")
}

fn words(sql: &str) -> Vec<&str> {
    sql.split_whitespace().collect()
}

/// A unique id without the hash dbt appends to a generic test's (DVT's is its own).
fn node_key(id: &str) -> &str {
    match id.rsplit_once('.') {
        Some((head, tail))
            if id.starts_with("test.")
                && tail.len() == 10
                && tail.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            head
        }
        _ => id,
    }
}

/// Files under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).expect("under dir").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn packages_local_compiles_as_dbt_core_did() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let project = tmp.path().join("packages_local");
    copy_tree(
        &fixtures().join("packages_local"),
        &project,
        &["golden"],
        None,
    )
    .expect("copy");
    copy_tree(
        &fixtures().join("golden_pkg_utils"),
        &tmp.path().join("golden_pkg_utils"),
        &[],
        None,
    )
    .expect("copy");
    // The goldens ran in schema `golden_packages_local` of database `test`.
    write(
        &project,
        &[(
            "profiles.yml",
            "golden:\n  target: dev\n  outputs:\n    dev: {type: postgres, host: 127.0.0.1, port: 5432, user: postgres, dbname: test, schema: golden_packages_local, threads: 1}\n",
        )],
    );
    let installed = install(&project).expect("dvt deps");
    assert_eq!(installed.len(), 1);
    assert_eq!(installed[0].name, "golden_utils");
    assert!(
        project
            .join("dbt_packages/golden_utils/models/pkg_calendar.sql")
            .is_file()
    );

    let m = load(&project, "").expect("loads");
    let golden = fixtures().join("packages_local/golden");

    // The same nodes as dbt's run (generic tests without their hash).
    let results: serde_json::Value =
        serde_json::from_str(&read(&golden.join("results.json"))).expect("json");
    let want: BTreeSet<&str> = results["steps"][0]["nodes"]
        .as_object()
        .expect("nodes")
        .keys()
        .map(|k| node_key(k))
        .collect();
    let have: BTreeSet<&str> = m.nodes.keys().map(|k| node_key(k)).collect();
    assert_eq!(have, want);
    let want_lines: BTreeSet<String> = read(&golden.join("manifest_nodes.txt"))
        .lines()
        .map(|l| {
            let (kind, id) = l.split_once(' ').expect("kind and id");
            format!("{kind} {}", node_key(id))
        })
        .collect();
    let have_lines: BTreeSet<String> = m
        .nodes
        .values()
        .map(|n| format!("{} {}", n.resource_type.as_str(), node_key(&n.unique_id)))
        .collect();
    assert_eq!(have_lines, want_lines);

    // Every compiled file dbt wrote, by its path: `compiled/<path>` for the root
    // project, `compiled_packages/<package>/<path>` for a package's nodes.
    let by_path: BTreeMap<PathBuf, &String> = m
        .nodes
        .keys()
        .filter_map(|id| Some((m.compiled_path(id)?, id)))
        .collect();
    let build = golden.join("build");
    let mut goldens: Vec<(PathBuf, PathBuf)> = files_under(&build.join("compiled"))
        .into_iter()
        .map(|rel| {
            (
                build.join("compiled").join(&rel),
                Path::new("compiled/golden_packages").join(rel),
            )
        })
        .collect();
    goldens.extend(
        files_under(&build.join("compiled_packages"))
            .into_iter()
            .map(|rel| {
                (
                    build.join("compiled_packages").join(&rel),
                    Path::new("compiled").join(rel),
                )
            }),
    );
    let mut matched = Vec::new();
    for (file, path) in &goldens {
        let id = by_path
            .get(path)
            .unwrap_or_else(|| panic!("no node compiles to `{}`", path.display()));
        let sql = m.compile(id).unwrap_or_else(|e| panic!("{id}: {e}")).sql;
        assert_eq!(words(&sql), words(&read(file)), "{id} ({})", path.display());
        matched.push(id.as_str());
    }
    // Every model and test has its golden file: 3 + 2 models, 6 + 4 tests.
    let compiled_kinds = m
        .nodes
        .values()
        .filter(|n| matches!(n.resource_type, ResourceType::Model | ResourceType::Test))
        .count();
    assert_eq!(matched.len(), compiled_kinds);
    assert_eq!(matched.len(), 15);
    let pkg_nodes = matched
        .iter()
        .filter(|id| m.nodes[**id].package_name == "golden_utils")
        .count();
    assert_eq!(pkg_nodes, 6);

    // `package:` selects a package's nodes (2 models, 1 seed, 4 tests), and, as dbt's
    // eager indirect selection does, the root project's tests of them.
    let selected =
        crate::select::select(&m, &["package:golden_utils".to_owned()], &[]).expect("selects");
    let (own, others): (Vec<&String>, Vec<&String>) = selected
        .iter()
        .partition(|id| m.nodes[*id].package_name == "golden_utils");
    assert_eq!(own.len(), 7);
    assert_eq!(others.len(), 1, "{others:?}");
    let reads = &m.nodes[others[0]].depends_on;
    assert!(m.nodes[others[0]].is_test(), "{others:?}");
    assert!(
        reads.iter().any(|r| r.contains(".golden_utils.")),
        "{reads:?}"
    );
    assert!(selected.contains("seed.golden_utils.pkg_country_codes"));
}
